"""Model families, one module each; importing this package registers them (as `janus_eval.model_adapters`)."""

from janus_eval.model_adapters import janus_hf, janusflow, predictions  # noqa: F401
