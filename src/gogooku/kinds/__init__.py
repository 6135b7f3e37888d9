"""The built-in model kinds (``gogooku.models.registry.BUILTIN``): ``atft``, ``apex``, ``master`` (networks
on windows of days, ``neural``), ``lgbm``, ``linear`` (fitted on one day's feature rows) and
``factor`` (reference formulas, nothing to bundle). Each module is one :class:`ModelKind`;
plugins add theirs through the ``gogooku.models`` entry point group (``docs/extending.md``)."""
