"""Memory-quality benchmarks (LoCoMo, BEAM) run end to end against a live honcho-local server.

`honcho-local bench locomo|beam` ingests a public dataset through the HTTP API exactly as users do,
waits for the worker, then answers every question with honcho-local's retrieval and chat and with
baselines in the same run (naive RAG, BM25 + dense fusion, full context), scoring retrieval recall
against LoCoMo's evidence turns, answer token-F1 / exact match, cost and read latency. Reports are
markdown plus PNG plots. Modules: `data` (dataset loaders), `scoring`, `baselines`, `server`,
`runner` (the run), `report`.
"""
