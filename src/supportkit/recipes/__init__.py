"""Recipes: the library's components put together for one job (torchtune's components vs recipes).

* :mod:`.finetune`: model -> data -> train -> save, the one fine-tuning path.
* :mod:`.compare`: adaptation methods x prompt strategies, each trained with :func:`.finetune.finetune`.
* :mod:`.demo`: the end-to-end tour (fine-tune, evaluate, answer, report).
* :mod:`.evaluate`: one model's strategies and the baselines on the held-out split.
* :mod:`.assistant`: the inference pipeline the ``chat`` and ``ask`` commands answer with.

Recipes import library components (pipelines, evaluation, data, models) and are imported by the
command line (``supportkit.commands``); nothing in the library imports a recipe or a command.
"""
