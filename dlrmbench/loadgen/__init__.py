"""Serving under MLPerf LoadGen: the real ``mlperf_loadgen`` (the ``serve`` extra) drives a generic SUT.

The pieces know nothing of DLRM: a :class:`~dlrmbench.loadgen.qsl.SampleLibrary` makes a batch of
inputs from LoadGen's sample indices, a model callable turns that batch into one output row per data row,
and the :class:`~dlrmbench.loadgen.sut.Batcher` joins the two under LoadGen's callbacks. A workload family
supplies the library and the callable (DLRM's: :mod:`dlrmbench.export.serve_loadgen`).

Modules: ``library`` (import LoadGen or say which extra), ``settings`` (case fields -> ``TestSettings``),
``qsl``, ``sut``, ``logs`` (read LoadGen's summary and detail files), ``accuracy`` (read its accuracy log),
``calibrate`` (size a run from a probe where the case does not), ``run`` (one LoadGen test in its own folder),
``search`` (the Server QPS search).
"""
