"""cocotb + Verilator glue: find the simulator, build once per design, run sim/ testbenches."""
