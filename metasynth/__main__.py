from metasynth.cli import run

run()
