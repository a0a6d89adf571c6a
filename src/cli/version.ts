/** dllt's version, in its own module so `--version` and `--help` load nothing else. */
export const VERSION = '0.1.0';
