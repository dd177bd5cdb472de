// The benchmark's tiny task for npm workerpool in process mode.
require("workerpool").worker({ double: (x) => 2 * x });
