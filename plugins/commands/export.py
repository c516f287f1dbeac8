"""``dlrmbench export`` and ``dlrmbench serve-bench``: the serving path (no torch import here).

The work lives in :mod:`dlrmbench.export`; this module parses options and renders tables.
"""

from __future__ import annotations

from pathlib import Path

import click

from dlrmbench import hookimpl
from dlrmbench.errors import UserError


def _need(module: str, extra: str = "export") -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise UserError(f"{module} is not installed: pip install 'dlrmbench[{extra}]' (or pip install {module})")


def _sizes(value: str, what: str, largest: int) -> tuple[int, ...]:
    try:
        sizes = tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(f"{value!r}: give comma-separated whole numbers, e.g. 1,64,2048", param_hint=what)
    if not sizes or min(sizes) < 1 or max(sizes) > largest:
        raise click.BadParameter(f"{value!r}: every value must be between 1 and {largest:,}", param_hint=what)
    return tuple(dict.fromkeys(sizes))


@click.command("export")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="Folder to create: export.json and triton/ (the model repository to mount).")
@click.option("--checkpoint", type=click.Path(path_type=Path), default=None,
              help="A dlrmbench checkpoint (checkpoint.save of a train case). Alone, it gives the model shape too.")
@click.option("--suite", type=click.Path(path_type=Path), default=None, help="Build the model of a suite case ...")
@click.option("--case", "case_name", default=None, help="... named CASE (its checkpoint.load, if any, is loaded).")
@click.option("--scale-down", is_flag=True, help="The case's CPU-sized variant (as run --scale-down).")
@click.option("--hash-indices", is_flag=True,
              help="With --checkpoint alone: fold ids into range (id mod rows) as the training case did.")
@click.option("--format", "formats", type=click.Choice(["onnx", "torchscript"]), multiple=True,
              help="Formats to write (repeatable; default both).")
@click.option("--split", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True,
              help="Serve the tables as their own model behind an ensemble: auto = above --split-above.")
@click.option("--split-above", type=click.IntRange(min=0), default=2 << 30, show_default=True, metavar="BYTES",
              help="Table bytes above which --split auto keeps the tables out of the dense graph.")
@click.option("--model-name", default="dlrm", show_default=True, help="Name of the served model in Triton.")
@click.option("--max-batch-size", type=click.IntRange(min=1), default=65536, show_default=True,
              help="Triton max_batch_size (dynamic batching merges requests up to it).")
@click.option("--preferred-batch-size", "preferred", type=click.IntRange(min=1), multiple=True,
              help="Triton dynamic_batching preferred_batch_size (repeatable).")
@click.option("--max-queue-delay-us", type=click.IntRange(min=0), default=100, show_default=True,
              help="How long Triton may hold a request to batch it with others.")
@click.option("--instance-kind", type=click.Choice(["gpu", "cpu"]), default="gpu", show_default=True,
              help="Where Triton runs the dense model (the split sparse model always runs on the CPU).")
@click.option("--instances", type=click.IntRange(min=1), default=1, show_default=True,
              help="Model instances per device (instance_group count).")
@click.option("--precision", type=click.Choice(["fp32", "bf16", "int8"]), default=None,
              help="Served precision (default: the case's serve.precision, else fp32). int8: dynamically quantised "
                   "MLPs and row-wise quantised tables; bf16: weights and activations in bfloat16.")
@click.option("--table-bits", type=click.Choice(["8", "4"]), default=None,
              help="int8: bits per table entry (default: the case's serve.table_bits, else 8).")
@click.option("--check", is_flag=True,
              help="Run the exported files (onnxruntime, TorchScript) against the fp32 eager model, with the "
                   "precision's tolerance; exit 1 on a difference.")
@click.option("--force", is_flag=True,
              help="Replace OUTPUT if it is an earlier export or empty (only once the new export is complete).")
def export_command(output: Path, checkpoint: Path | None, suite: Path | None, case_name: str | None,
                   scale_down: bool, hash_indices: bool, formats: tuple[str, ...], split: str, split_above: int,
                   model_name: str, max_batch_size: int, preferred: tuple[int, ...], max_queue_delay_us: int,
                   instance_kind: str, instances: int, precision: str | None, table_bits: str | None, check: bool,
                   force: bool) -> None:
    """Export a trained DLRM for serving: TorchScript and ONNX files in a Triton model repository.

    \b
    dlrmbench export -o exported --checkpoint ck/train.pt --check
    dlrmbench export -o exported --suite suites/quickstart.yaml --case train-joint
    dlrmbench export -o int8 --checkpoint ck/train.pt --precision int8 --table-bits 4 --check

    Writes OUTPUT/export.json (what was exported, from what, and the check) and OUTPUT/triton/
    (config.pbtxt with dynamic batching per model). Nothing is written unless everything succeeds.
    """
    from dlrmbench.config.schema import check_safe_name
    from dlrmbench.export.exporter import ExportMismatch, ExportSettings, check_output
    from dlrmbench.export.triton_repo import Batching

    if (suite is None) != (case_name is None):
        raise UserError("give --suite and --case together (or --checkpoint alone)")
    if suite is None and checkpoint is None:
        raise UserError("nothing to export: give --checkpoint PATH, or --suite FILE --case NAME")
    if hash_indices and suite is not None:
        raise UserError("--hash-indices is for --checkpoint alone; a suite case says model.hash_indices itself")
    try:
        check_safe_name(model_name, "--model-name")
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if any(p > max_batch_size for p in preferred):
        raise UserError(f"--preferred-batch-size {max(preferred)} is above --max-batch-size {max_batch_size}")
    formats = formats or ("onnx", "torchscript")
    if "onnx" in formats or check:
        _need("onnx")
        _need("onnxscript")
    if check and "onnx" in formats:
        _need("onnxruntime")
    check_output(output, force)  # before anything heavy is built

    from dlrmbench.export.source import build_export_model, case_from_checkpoint, case_from_suite

    case = case_from_suite(suite, case_name, scale_down) if suite is not None else case_from_checkpoint(
        checkpoint, hash_indices)  # type: ignore[arg-type]
    served = getattr(case, "serve", None)  # a serving case's precision and table bits, unless given here
    precision = precision or (served.precision if served is not None else "fp32")
    bits = int(table_bits) if table_bits else (served.table_bits if served is not None else 8)
    if table_bits and precision != "int8":
        raise UserError(f"--table-bits applies to --precision int8 (this export is {precision}); drop it or add "
                        "--precision int8")
    if suite is not None and _serves_its_own_model(case):
        if precision != "fp32":
            raise UserError(f"--case {case_name}: family {case.model.family} exports its own served model, in fp32 "
                            f"only (not {precision}); use --precision fp32")
        _export_family(case, checkpoint, output, tuple(dict.fromkeys(formats)), check, force)
        return
    model, source = build_export_model(case, checkpoint)
    settings = ExportSettings(
        output=output, formats=tuple(dict.fromkeys(formats)), split=split, split_above_bytes=split_above,  # type: ignore[arg-type]
        model_name=model_name, check=check, force=force, precision=precision, table_bits=bits,  # type: ignore[arg-type]
        batching=Batching(max_batch_size=max_batch_size, preferred_batch_sizes=tuple(sorted(set(preferred))),
                          max_queue_delay_us=max_queue_delay_us, instance_kind=f"KIND_{instance_kind.upper()}",
                          instances=instances),
    )
    from dlrmbench.export.exporter import export

    try:
        manifest = export(model, source, settings)
    except ExportMismatch as exc:
        click.echo(f"Error: {exc}; nothing was written", err=True)
        raise SystemExit(1) from None
    except OSError as exc:  # disk full, quota, a folder removed underneath: nothing was published
        click.echo(f"Error: writing the export failed ({exc}); nothing was written to {output}", err=True)
        raise SystemExit(1) from None
    _print_export(manifest, output)


def _serves_its_own_model(case: object) -> bool:
    """True when the case's family object has ``serving`` (its own served model, not the core's layout); a family
    without it whose configuration is not the core's layout (no interaction) is refused with the reason."""
    from dlrmbench.workload.build import build_family, resolve

    family = build_family(resolve(case))  # type: ignore[arg-type]
    if hasattr(family, "serving"):
        return True
    if not hasattr(case.model, "interaction"):  # type: ignore[attr-defined]
        raise UserError(f"--case {case.name}: family {case.model.family} gives no serving(model, dataset) and its "  # type: ignore[attr-defined]
                        "model is not the numerical, categorical layout dlrmbench export writes; it cannot be exported yet")
    return False


def _export_family(case: object, checkpoint: Path | None, output: Path, formats: tuple[str, ...], check: bool,
                   force: bool) -> None:
    """A family's served model: its files and export.json (no Triton repository: that serves the core's layout)."""
    from dlrmbench.export.exporter import ExportMismatch
    from dlrmbench.export.family_export import export_case

    try:
        manifest = export_case(case, checkpoint, output, formats, check, force)
    except ExportMismatch as exc:
        click.echo(f"Error: {exc}; nothing was written", err=True)
        raise SystemExit(1) from None
    except OSError as exc:
        click.echo(f"Error: writing the export failed ({exc}); nothing was written to {output}", err=True)
        raise SystemExit(1) from None
    assert manifest is not None
    click.echo(f"Exported to {output} (family {manifest['source']['family']}: inputs "
               f"{', '.join(manifest['inputs'])} -> {', '.join(manifest['outputs'])}; no Triton repository)")
    for fmt, entry in manifest["models"].items():
        click.echo(f"  {fmt}: {entry['file']}")
    for fmt, result in (manifest.get("check") or {}).items():
        click.echo(f"  check {fmt}: max |exported - eager| = {result['max_abs_diff']:.3g} over {result['samples']} "
                   f"samples (tolerance {result['tolerance']:g}): {'pass' if result['passed'] else 'FAIL'}")


def _print_export(manifest: dict, output: Path) -> None:
    precision = manifest["precision"]
    bits = f", {precision['table_bits']}-bit tables" if precision["table_bits"] else ""
    click.echo(f"Exported to {output} ({precision['name']}{bits}; "
               f"{'split: sparse + dense + ensemble' if manifest['split'] else 'one graph'}; {manifest['split_reason']})")
    for fmt, entry in manifest["models"].items():
        files = ", ".join(p["file"] for p in entry["parts"].values())
        click.echo(f"  {fmt}: Triton model {entry['model']!r}: inputs {', '.join(entry['served']['inputs'])} -> "
                   f"{', '.join(entry['served']['outputs'])}; {files}")
    for fmt, result in (manifest.get("check") or {}).items():
        if result["passed"] is None:
            click.echo(f"  check {fmt}: not run: {result['skipped']}")
            continue
        same = result.get("same_precision")
        also = (f"; against eager PyTorch in {manifest['precision']['name']}: {same['max_abs_diff']:.3g} (tolerance "
                f"{same['tolerance']:g})" if same else "")
        click.echo(f"  check {fmt}: max |exported - eager| = {result['max_abs_diff']:.3g} over {result['samples']} "
                   f"samples (tolerance {result['tolerance']:g}){also}: {'pass' if result['passed'] else 'FAIL'}")


@click.command("serve-bench")
@click.argument("export_dir", type=click.Path(path_type=Path))
@click.option("--target", type=click.Choice(["onnxruntime", "torchscript", "triton"]), default="onnxruntime",
              show_default=True, help="Run the export in this process, or against a running Triton server.")
@click.option("--batch-sizes", default="1,64,2048", show_default=True, help="Samples per request (comma-separated).")
@click.option("--concurrency", "concurrency", default="1,2,4", show_default=True,
              help="Closed-loop clients sending requests at once (comma-separated).")
@click.option("--duration", type=click.FloatRange(min=0.05, max=3600), default=2.0, show_default=True,
              help="Seconds measured per batch size x concurrency cell.")
@click.option("--warmup", type=click.IntRange(min=0), default=5, show_default=True,
              help="Untimed requests per client before each cell.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="onnxruntime intra-op threads (default: onnxruntime's choice, all cores).")
@click.option("--url", default="localhost:8000", show_default=True,
              help="Triton server (HTTP port 8000, gRPC port 8001).")
@click.option("--protocol", type=click.Choice(["http", "grpc"]), default="http", show_default=True)
@click.option("--model", "model", default=None, help="Triton model name (default: the export's ONNX model).")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0.1, max=3600), default=10.0, show_default=True,
              help="Seconds after which a Triton request without an answer is given up (the run stops).")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=Path("results"), show_default=True,
              help="Results folder: writes OUTPUT/serving/<run-id>/ as dlrmbench run does.")
@click.option("--no-save", is_flag=True, help="Print the table only; write no result files.")
def serve_bench_command(export_dir: Path, target: str, batch_sizes: str, concurrency: str, duration: float,
                        warmup: int, threads: int | None, url: str, protocol: str, model: str | None,
                        timeout_s: float, output: Path, no_save: bool) -> None:
    """Latency percentiles and throughput over batch size x concurrency (perf_analyzer's table).

    \b
    dlrmbench serve-bench exported                      onnxruntime, this CPU
    dlrmbench serve-bench exported --target triton      a Triton server
    """
    from dlrmbench.export.exporter import read_manifest
    from dlrmbench.export.serve_bench import LocalTarget, ServeSettings, TritonTarget, run_serving
    from dlrmbench.results.store import utc_now

    settings = ServeSettings(batch_sizes=_sizes(batch_sizes, "--batch-sizes", 1 << 20),  # the graphs' batch bound
                             concurrency=_sizes(concurrency, "--concurrency", 256), duration_s=duration, warmup=warmup)
    if not no_save:
        from dlrmbench.results.store import check_output_dir

        check_output_dir(output)  # before anything is measured
    manifest = read_manifest(export_dir)
    root = export_dir if export_dir.is_dir() else export_dir.parent
    if target == "triton":
        if model is None:
            model = next(iter(manifest["models"].values()))["model"]
        runner = TritonTarget(url, protocol, model, timeout_s)
    else:
        fmt = "onnx" if target == "onnxruntime" else "torchscript"
        if fmt == "onnx":
            _need("onnxruntime")
        runner = LocalTarget(root, manifest, fmt, threads)  # type: ignore[assignment]
    click.echo(f"serve-bench: {runner.description}; {settings.duration_s:g} s per cell, {settings.warmup} warm-up "
               "requests per client")
    started = utc_now()
    click.echo(HEADER)
    cells = run_serving(runner, manifest["model"], settings, progress=lambda c: click.echo(format_row(c)))
    for warning in cell_warnings(cells):
        click.echo(f"Warning: {warning}")
    if not no_save:
        from dlrmbench.export.serving_results import write_serving_result

        run_dir = write_serving_result(output, root, manifest, target, runner.description,
                                       {"batch_sizes": list(settings.batch_sizes),
                                        "concurrency": list(settings.concurrency), "duration_s": settings.duration_s,
                                        "warmup": settings.warmup, "threads": threads}, cells, started)
        click.echo(f"Results: {run_dir}")


#: perf_analyzer's columns, with the number of timed requests each percentile rests on; latencies in µs
#: (a CPU model answers in well under a millisecond); numbers right-aligned, never cropped (rows fit in 80).
HEADER = (f"{'batch':>6} {'conc':>5} {'requests':>9} {'samples/s':>12} {'p50 µs':>10} {'p90 µs':>10} "
          f"{'p95 µs':>10} {'p99 µs':>10}")

#: Below this many requests a cell's p99 is (nearly) its maximum: one slow request decides it.
MIN_REQUESTS_FOR_P99 = 100


def format_row(cell: object) -> str:
    """One row of the serving table."""
    from dlrmbench.export.serve_bench import Cell

    assert isinstance(cell, Cell)
    latencies = " ".join(f"{cell.percentile_ms(q) * 1e3:>10,.0f}" for q in (50, 90, 95, 99))
    return f"{cell.batch_size:>6} {cell.concurrency:>5} {cell.requests:>9,} {cell.samples_per_s:>12,.0f} {latencies}"


def cell_warnings(cells: list) -> list[str]:
    """A warning for each cell whose p99 rests on too few requests to mean a 99th percentile."""
    return [f"batch {c.batch_size}, {c.concurrency} client(s): p99 from {c.requests} requests (fewer than "
            f"{MIN_REQUESTS_FOR_P99}: it is about the slowest request); raise --duration"
            for c in cells if c.requests < MIN_REQUESTS_FOR_P99]


@hookimpl
def register_commands(cli: click.Group) -> None:
    cli.add_command(export_command)
    cli.add_command(serve_bench_command)
