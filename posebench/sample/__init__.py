"""Look-alike raw releases (Human3.6M, MPI-INF-3DHP, MPII) for tests, benchmarks and the demo.

`body` and `motion` draw people and their movements, `geometry` puts them in front of a camera,
`render` turns them into frames, `media` encodes them, and one writer per dataset lays
files out as the official release does; `posebench sample DATASET --out DIR` runs a writer.
"""
