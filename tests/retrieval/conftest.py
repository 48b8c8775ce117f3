"""Retrieval tests use tiny indexes: one FAISS thread (OpenMP threads only spin-wait on a busy machine)."""

from __future__ import annotations

import faiss
import pytest


@pytest.fixture(autouse=True)
def one_faiss_thread():
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(threads)
