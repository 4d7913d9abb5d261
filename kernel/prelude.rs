// Loaded by the omeflow kernel before the first cell: kernel/install appends it to init.evcxr,
// after the `:dep omeflow_shared` line, so evcxr compiles both in one step. omeflow_shared is
// omeflow as one shared library (kernel/shared); cells call it `omeflow`.
use omeflow_shared as omeflow;
use omeflow::prelude::*;
