"""Per-example losses and evaluation metrics shared by workloads.

A workload names one loss (used for training and reported as ``loss``) and one
metric function that returns per-example values for every reported metric.
Label smoothing arrives per call so that it can be a traced hyperparameter.
"""

import jax
import jax.numpy as jnp
import optax


def softmax_cross_entropy(logits, labels, label_smoothing=0.0):
    """Cross-entropy against integer labels, with optional label smoothing."""
    num_classes = logits.shape[-1]
    one_hot = jax.nn.one_hot(labels, num_classes)
    targets = optax.smooth_labels(one_hot, label_smoothing)
    return optax.softmax_cross_entropy(logits, targets)


def classification_metrics(logits, labels):
    """Per-example ``loss`` (no smoothing), ``accuracy`` and ``error_rate``."""
    correct = (jnp.argmax(logits, axis=-1) == labels).astype(jnp.float32)
    return {
        "loss": softmax_cross_entropy(logits, labels),
        "accuracy": correct,
        "error_rate": 1.0 - correct,
    }
