"""Board files (one YAML per board), installed as sqhw._boards; read by sqhw.hw.boards."""
