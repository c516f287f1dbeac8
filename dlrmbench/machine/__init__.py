"""The machine a benchmark runs on: its settings that move results (``checks``) and its measured
run-to-run variation (``variation``). ``dlrmbench doctor`` shows both; ``run`` records them."""
