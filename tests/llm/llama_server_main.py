"""`python -m llama_cpp.server`, with honcho-local's AMX guard on first (that server loads its own
`Llama`, which crashes on an AMX build of llama.cpp; see `honcho_local.llm.llamacpp.guard_amx`)."""

import runpy

from honcho_local.llm.llamacpp import guard_amx

if __name__ == "__main__":
    guard_amx()
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
