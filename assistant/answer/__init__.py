"""Answering: the types every answerer returns, the extractive answerer, the LLM answerer."""

from assistant.answer.types import REFUSAL, Answer, Citation

__all__ = ["REFUSAL", "Answer", "Citation"]
