//! Host bindings generated from `wit/edge.wit`.

wasmtime::component::bindgen!({
    world: "plugin",
    path: "wit",
    additional_derives: [PartialEq, Eq],
});
