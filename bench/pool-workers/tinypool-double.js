// The benchmark's tiny task for tinypool's child_process runtime.
module.exports = (x) => 2 * x;
