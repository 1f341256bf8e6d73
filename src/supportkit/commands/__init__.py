"""The command line's subcommands, one module per group, registered with ``@command`` when
``supportkit.cli`` imports the modules in ``COMMAND_MODULES``.

Commands parse arguments, call a recipe (``supportkit.recipes``) or a library component, and
print; they import heavy libraries only inside their ``run`` functions so ``--help`` stays fast.
Nothing in the library imports this package.
"""
