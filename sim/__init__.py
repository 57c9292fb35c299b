"""cocotb testbenches (one module per component), installed as sqhw._sim.

The simulator imports them by module name (tb_mul, ...) with this folder on sys.path; see
sqhw.verify.runner."""
