import numpy as np
import pytest

from assistant.embeddings import SentenceEmbeddings
from assistant.errors import ConfigError

from .conftest import ARTICLE


def test_vectors_are_unit_length_and_384_wide(embeddings):
    vectors = embeddings.embed(["What is Plan T?", "A second, longer sentence about Iraq."])
    assert vectors.shape == (2, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embeddings.max_tokens == 256


@pytest.mark.slow
def test_onnx_backend_matches_sentence_transformers(embeddings):
    texts = [p for p in ARTICLE.read_text().split("\n\n") if p.strip()]
    reference = SentenceEmbeddings(backend="torch", precision="fp32").embed(texts)
    cosine = (embeddings.embed(texts) * reference).sum(axis=1)
    assert cosine.min() >= 0.9999


def test_questions_are_embedded_once(embeddings, monkeypatch):
    embeddings.embed_questions(["a question asked twice"])
    monkeypatch.setattr(embeddings, "embed", lambda texts: pytest.fail(f"re-embedded {texts}"))
    again = embeddings.embed_questions(["a question asked twice"])
    assert again.shape == (1, 384)


def test_a_model_that_is_not_there_says_what_to_set(tmp_path):
    missing = SentenceEmbeddings(str(tmp_path / "no-such-model"))
    with pytest.raises(ConfigError, match="ASSISTANT_EMBEDDING_BACKEND=torch"):
        missing.embed(["x"])


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_the_graph_run_keeps_layer_norms_unfused(embeddings, precision, tmp_path):
    # SkipLayerNormalization's CPU kernel is ~3x slower than Add + LayerNormalization: neither
    # the export nor ONNX Runtime's load-time optimizer may fuse them.
    import onnx

    from assistant.embeddings.export import ensure_int8, ensure_onnx
    from assistant.embeddings.onnx_runner import open_session
    from assistant.embeddings.runners import resolve_model_folder

    folder = resolve_model_folder(embeddings.model_name)
    ensure = ensure_onnx if precision == "fp32" else ensure_int8
    exported = ensure(folder, embeddings.cache_dir)
    optimized = tmp_path / "optimized.onnx"
    open_session(exported, threads=1, save_optimized=optimized)
    for path in (exported, optimized):
        ops = {node.op_type for node in onnx.load(str(path)).graph.node}
        assert "SkipLayerNormalization" not in ops, path
        assert "LayerNormalization" in ops, path
    running = {node.op_type for node in onnx.load(str(optimized)).graph.node}
    assert ("Attention" if precision == "fp32" else "QAttention") in running  # still fused
