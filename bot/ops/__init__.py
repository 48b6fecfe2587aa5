"""The operator side: the ``scr-bot`` command line, the offline shell, the clock and the process supervisor.

Owns: assembling the bot from the core and a front end (the Bolt app with its listeners, the clock's
deliveries), and everything a person running it types or reads (``cli``, ``shell``, ``textrender``).
May import: anything. Imported by: nothing but ``bot.__main__`` and the ``scr-bot`` script.
"""
