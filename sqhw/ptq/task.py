"""A PTQ task: one model with its calibration data, evaluation data and metric.

Every engine (sqhw's, ONNX Runtime) is scored by the same `Task.evaluate`
on the same tensors, so rows of one study compare like with like.

A task's `evaluate` takes any callable `forward(*inputs) -> torch.Tensor` (a torch module,
a quantized copy, or a wrapper around an ONNX Runtime session) and returns the metric as a
fraction: accuracy 0.953, top-1 agreement 0.91, mean cosine 0.997.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

Batch = tuple  # the positional inputs of one forward call (tensors)


@dataclasses.dataclass
class Task:
    """name: the model's name; model: FP32 torch module in eval mode; calibration: batches
    (tuples of input tensors) for calibration; evaluation: batches the metric runs over;
    metric: its name ("accuracy", "top1_agreement", "cosine"); score: (outputs, batch index)
    -> per-batch numbers summed by `evaluate` (see `Metric`)."""

    name: str
    model: object
    calibration: Sequence[Batch]
    evaluation: Sequence[Batch]
    metric: "Metric"
    input_names: tuple[str, ...] = ("x",)
    train: tuple | None = None  # (inputs, labels) of a classifier, for N:M fine-tuning

    def evaluate(self, forward: Callable) -> dict:
        """{'score': fraction, **extras} of forward on every evaluation batch."""
        import torch

        outputs = []
        with torch.no_grad():
            for batch in self.evaluation:
                outputs.append(forward(*batch))
        return self.metric(outputs)

    def fp32(self) -> dict:
        return self.evaluate(self.model)


class Metric:
    """A metric over the list of per-batch outputs of one engine. Subclasses set `name`."""

    name: str

    def __call__(self, outputs: list) -> dict:
        raise NotImplementedError


class Accuracy(Metric):
    """Top-1 accuracy against labels (one label tensor per evaluation batch)."""

    name = "accuracy"

    def __init__(self, labels: Sequence):
        self.labels = list(labels)

    def __call__(self, outputs: list) -> dict:
        import torch

        correct = sum(int((out.argmax(-1) == y).sum()) for out, y in zip(outputs, self.labels))
        total = sum(int(y.numel()) for y in self.labels)
        return {"score": correct / total, "n": total}


class AgreementWithReference(Metric):
    """Top-1 / top-5 agreement with FP32 logits and mean KL(FP32 || quantized) (classifiers
    scored without labels, e.g. ImageNet models on natural images)."""

    name = "top1_agreement"

    def __init__(self, reference: Sequence):
        self.reference = list(reference)

    def __call__(self, outputs: list) -> dict:
        import torch

        ref = torch.cat([r.double() for r in self.reference])
        out = torch.cat([o.double() for o in outputs])
        top1 = (out.argmax(-1) == ref.argmax(-1)).double().mean().item()
        top5_ref = ref.topk(5, dim=-1).indices
        top5 = (top5_ref == out.argmax(-1, keepdim=True)).any(-1).double().mean().item()
        p = torch.log_softmax(ref, -1)
        q = torch.log_softmax(out, -1)
        kl = (p.exp() * (p - q)).sum(-1).mean().item()
        return {"score": top1, "top5_agreement": top5, "mean_kl": kl, "n": int(ref.shape[0])}


class EmbeddingCosine(Metric):
    """Mean cosine of embeddings to the FP32 ones, and top-1 retrieval agreement (the
    nearest other sentence by cosine is the same as with FP32)."""

    name = "cosine"

    def __init__(self, reference: Sequence):
        self.reference = list(reference)

    def __call__(self, outputs: list) -> dict:
        import torch

        ref = torch.nn.functional.normalize(torch.cat([r.double() for r in self.reference]), dim=-1)
        out = torch.nn.functional.normalize(torch.cat([o.double() for o in outputs]), dim=-1)
        cosine = (ref * out).sum(-1).mean().item()

        def nearest(e):
            sim = e @ e.T
            sim.fill_diagonal_(-2.0)
            return sim.argmax(-1)

        retrieval = (nearest(ref) == nearest(out)).double().mean().item()
        return {"score": cosine, "retrieval_agreement": retrieval, "n": int(ref.shape[0])}
