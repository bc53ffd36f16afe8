"""The HTTP side: the spawn form, and every handler of ``{hub}/api/moss/`` and
the job output page."""
