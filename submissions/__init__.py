"""Registered submissions: name -> module. Each module follows the contract in
``algoperf_lite.core.spec`` (``HPARAMS``, ``make_optimizer``, optional
``get_batch_size``); tests run every entry here through the same checks."""

SUBMISSIONS = {
    "nadamw": "submissions.nadamw",
    "adamw": "submissions.adamw",
    "sgd": "submissions.sgd",
    "plain_sgd": "submissions.plain_sgd",  # the negative control
    "sgd_hd": "submissions.sgd_hd",
    "adam_hd": "submissions.adam_hd",
    # Numerical integrators of the gradient flow (our reading of Ma et al. 2024).
    "euler": "submissions.euler",
    "heun": "submissions.heun",
    "rk4": "submissions.rk4",
    "adams_bashforth": "submissions.adams_bashforth",
}
