// Loaded by the omeflow kernel before the first cell.
use omeflow::prelude::*;
