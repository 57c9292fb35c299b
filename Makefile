# The two commands of the README. Both create .venv when it is missing and install the project.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test test-fast install clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[all,peers]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/sqhw demo

test: $(STAMP)
	$(PY) -m pytest -q -n 2 --dist loadfile sqhw tests

# the inner loop: no Verilator / Yosys builds, no slow model loads
test-fast: $(STAMP)
	$(PY) -m pytest -q -n 2 -m "not rtl and not slow" sqhw tests

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
