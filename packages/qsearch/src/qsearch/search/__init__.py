"""Search methods: :mod:`.dnas`, :mod:`.dse` (+ :mod:`.space`), :mod:`.ilp` (+ :mod:`.sensitivity`), :mod:`.pareto`."""
