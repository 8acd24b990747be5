@0x89186a1000abd620;
# The shape of the module bundle that workerd reads from `pyodide_dev.capnp.bin` (its
# `jsg::Bundle`). Cap'n Proto lays fields out by their ordinals and types, not their names, so
# every field up to the highest ordinal is declared with workerd's ordinal and type, including
# the ones this project never sets (tsDeclaration, compileCache): leaving one out would move the
# others.

struct Bundle {
  modules @0 :List(Module);
}

struct Module {
  name @0 :Text;
  union {
    src @1 :Data;     # ES module source text
    wasm @4 :Data;    # a WebAssembly binary, compiled by workerd at load
    data @5 :Data;    # bytes, imported as an ArrayBuffer
    json @6 :Text;
  }
  tsDeclaration @3 :Text;
  type @2 :Type;
  compileCache @7 :Data;

  enum Type {
    bundle @0;
    builtin @1;
    internal @2;      # importable only by the runtime's own modules: what the Python loader uses
  }
}
