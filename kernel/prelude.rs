// Loaded by the omeflow kernel before the first cell: kernel/install appends it to init.evcxr,
// after the `:dep omeflow` line, so evcxr compiles both in one step.
use omeflow::prelude::*;
