"""A stand-in for the real engine package, used by the Blender tests until the real engine runs end to end.

Run as ``python -m engine reconstruct PHOTO -o OUT --progress json [...]`` with this folder's parent on
PYTHONPATH; it speaks the real CLI's JSON-line protocol and writes tools/make_fake_engine_output.py's folder.
"""
