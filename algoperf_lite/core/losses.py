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


def sequence_cross_entropy(logits, labels, label_smoothing=0.0):
    """Per-sequence mean of the per-token cross-entropy (``labels``: [batch, length])."""
    return softmax_cross_entropy(logits, labels, label_smoothing).mean(axis=-1)


def sequence_metrics(logits, labels):
    """Per-sequence ``loss`` (nats per token), ``bits_per_char`` and ``accuracy``."""
    loss = sequence_cross_entropy(logits, labels)
    correct = (jnp.argmax(logits, axis=-1) == labels).astype(jnp.float32).mean(axis=-1)
    return {"loss": loss, "bits_per_char": loss / jnp.log(2.0), "accuracy": correct}


def squared_error(predictions, targets, label_smoothing=0.0):
    """Per-example squared error, halved as is usual; ``label_smoothing`` does not apply."""
    del label_smoothing
    return 0.5 * jnp.sum((predictions - targets) ** 2, axis=-1)


def regression_metrics(predictions, targets):
    """Per-example ``loss`` (half squared error) and ``absolute_error``."""
    return {
        "loss": squared_error(predictions, targets),
        "absolute_error": jnp.abs(predictions - targets).sum(axis=-1),
    }
