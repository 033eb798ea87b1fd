"""The int8 passage model (precision ``int8``, the onnx default): close to fp32, used only
for passages, built once beside the fp32 export. Real model, real ONNX Runtime."""

import json

import numpy as np
import pytest

from assistant.embeddings import SentenceEmbeddings
from assistant.errors import ConfigError

from .conftest import ARTICLE, DATA

# Lowest cosine(int8, fp32) over all 2,067 SQuAD v1.1 dev paragraphs was 0.9896 (mean 0.9961),
# and dense hit@5 on its 10,570 questions moved by -0.03 points (benchmarks/index_throughput.py);
# over the article's 16 paragraphs used here: lowest 0.9948, mean 0.9954.
MIN_COSINE = 0.988
MIN_MEAN_COSINE = 0.994


@pytest.fixture(scope="module")
def int8() -> SentenceEmbeddings:
    return SentenceEmbeddings(precision="int8").load(passages=True)


@pytest.fixture(scope="module")
def paragraphs() -> list[str]:
    return [p for p in ARTICLE.read_text().split("\n\n") if p.strip()]


def test_auto_means_int8_passages_on_onnx_only():
    assert SentenceEmbeddings().precision == "int8"
    assert SentenceEmbeddings().quantized_passages
    assert not SentenceEmbeddings(precision="fp32").quantized_passages
    assert SentenceEmbeddings(backend="torch").precision in ("fp32", "bf16")
    assert not SentenceEmbeddings(backend="torch").quantized_passages


def test_int8_needs_the_onnx_backend():
    with pytest.raises(ConfigError, match="onnx"):
        SentenceEmbeddings(backend="torch", precision="int8")


def test_an_unknown_precision_is_refused():
    with pytest.raises(ConfigError, match="int8"):
        SentenceEmbeddings(precision="int4")


@pytest.mark.slow
def test_int8_passages_are_close_to_fp32(int8, paragraphs):
    quantized = int8.embed_passages(paragraphs)
    reference = int8.embed(paragraphs)  # questions and sentences: always the fp32 model
    assert quantized.shape == reference.shape == (len(paragraphs), 384)
    assert np.allclose(np.linalg.norm(quantized, axis=1), 1.0, atol=1e-5)
    cosine = (quantized * reference).sum(axis=1)
    assert cosine.min() >= MIN_COSINE
    assert cosine.mean() >= MIN_MEAN_COSINE


@pytest.mark.slow
def test_embed_documents_is_the_int8_path_and_keeps_the_order(int8, paragraphs):
    texts = list(reversed(paragraphs))  # lengths unsorted: rows must come back in order
    documents = np.asarray(int8.embed_documents(texts), dtype="float32")
    reference = np.stack([int8.embed([text])[0] for text in texts])  # one at a time: no sorting
    assert documents.shape == (len(texts), 384)
    # Each row is nearest to its own text's fp32 vector.
    assert (np.argmax(documents @ reference.T, axis=1) == np.arange(len(texts))).all()
    assert not np.allclose(documents, reference, atol=1e-4)  # it really is the int8 model


@pytest.mark.slow
def test_questions_stay_fp32(int8):
    question = "When must the American army leave Iraq?"
    fp32 = SentenceEmbeddings(precision="fp32")
    assert np.allclose(int8.embed_query(question), fp32.embed_query(question), atol=1e-6)


@pytest.mark.slow
def test_fp32_precision_embeds_passages_in_fp32(paragraphs):
    fp32 = SentenceEmbeddings(precision="fp32")
    assert np.allclose(fp32.embed_passages(paragraphs[:4]), fp32.embed(paragraphs[:4]), atol=1e-6)


@pytest.mark.slow
def test_no_passages_give_an_empty_array(int8):
    assert int8.embed_passages([]).shape == (0, 384)
    assert int8.embed_documents([]) == []


@pytest.mark.slow
def test_int8_retrieval_agrees_with_fp32_on_the_dev_questions(int8, paragraphs):
    questions = [
        json.loads(line)["question"]
        for line in (DATA / "dev_questions.jsonl").read_text().splitlines()
        if line.strip()
    ]
    vectors = int8.embed_questions(questions)
    fp32_top = np.argmax(vectors @ int8.embed(paragraphs).T, axis=1)
    int8_scores = vectors @ int8.embed_passages(paragraphs).T
    top3 = np.argsort(-int8_scores, axis=1)[:, :3]
    assert np.mean([fp32_top[i] in top3[i] for i in range(len(questions))]) >= 0.97


@pytest.mark.slow
def test_the_int8_model_is_built_once_beside_the_export(int8):
    import onnx

    from assistant.embeddings.export import ensure_int8, fp32_products, int8_path, onnx_path
    from assistant.embeddings.runners import resolve_model_folder

    folder = resolve_model_folder(int8.model_name)
    path = ensure_int8(folder, int8.cache_dir)
    built = path.stat().st_mtime_ns
    assert ensure_int8(folder, int8.cache_dir) == path
    assert path.stat().st_mtime_ns == built  # found, not built again
    assert path == int8_path(folder, int8.cache_dir)
    assert path.parent == onnx_path(folder, int8.cache_dir).parent
    model = onnx.load(str(path))
    ops = [node.op_type for node in model.graph.node]
    assert "QAttention" in ops  # fused attention, quantized
    assert ops.count("DynamicQuantizeLinear") >= 6
    # Four products with a constant weight stay fp32: the first layer's attention output and
    # the first three feed-forward outputs (found by structure in the fused graph).
    weights = {i.name for i in model.graph.initializer}
    fp32 = [n.name for n in model.graph.node if n.op_type == "MatMul" and n.input[1] in weights]
    # ...and they are exactly the ones chosen by structure in the fused fp32 graph.
    fused = onnx.load(str(onnx_path(folder, int8.cache_dir)))
    assert sorted(fp32) == sorted(fp32_products(fused))
    assert len(fp32) == 4
    # 7-bit weights (reduce_range): full-range int8 weights can overflow the AVX2 kernels'
    # 16-bit sums of products.
    quantized = [
        onnx.numpy_helper.to_array(i)
        for i in model.graph.initializer
        if i.data_type == onnx.TensorProto.INT8 and i.name.endswith("_quantized")
    ]
    assert len(quantized) == 24 - 4
    assert max(int(np.abs(w).max()) for w in quantized) == 64
    assert path.stat().st_size < onnx_path(folder, int8.cache_dir).stat().st_size / 2


@pytest.mark.slow
def test_an_int8_vector_does_not_depend_on_the_texts_embedded_with_it(int8, paragraphs):
    # Dynamic quantization scales by the run's activations: batched, a sentence's vector would
    # change with its neighbours, and the same question could get another answer.
    sentence = "Plan T is to link the pressures on the militias to the Turkish presence."
    alone = int8.embed_passages([sentence])[0]
    for neighbours in (paragraphs[:3], paragraphs[5:12], ["Short."] * 20):
        together = int8.embed_passages([*neighbours, sentence])[-1]
        assert np.allclose(alone, together, atol=1e-6)
