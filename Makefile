# coinfer: the two commands of the README, and a few helpers.
#
#   make book    set up (once), then build the book into _build/html, executing every chapter;
#                any warning or failing cell fails the build
#   make test    set up (once), then run the tests
#
# Setup (scripts/setup.sh) installs Fashion-MNIST and Chromium with apt-get when missing and
# allowed, and `pip install -e .[book,test]` into the active env or ./.venv.

# The interpreter chosen by setup; every command runs the checkout's own coinfer.
PY = $$(cat .coinfer-python)
RUN = PYTHONPATH="$(CURDIR)$${PYTHONPATH:+:$$PYTHONPATH}" $(PY)
JUPYTER_BOOK = $(RUN) -c 'import sys; from jupyter_book.cli.main import main; sys.exit(main())'
PYTEST_ARGS ?=

.PHONY: book test browser-test fresh-env-test pdf setup colab-cells diagram clean results

book: .coinfer-python
	rm -rf _build/html _build/jupyter_execute _build/.doctrees _build/.jupyter_cache
	$(JUPYTER_BOOK) build . -W -n || { echo "book build failed (see the warnings above)"; exit 1; }
	@echo "book: open _build/html/index.html"

# The tests run in parallel processes (pytest-xdist), one per core and at most 8; a test file's tests
# stay in one process, so a module's fixture is built once. Each process gets one torch thread unless
# OMP_NUM_THREADS says otherwise: two processes of two threads on two cores slow each other down.
# TEST_WORKERS=0 runs them in this one process (e.g. to debug with pdb).
# pytest exits with 5 when it collects no tests; that is not a failure.
TEST_WORKERS ?= auto
test: .coinfer-python
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(RUN) -m pytest -n $(TEST_WORKERS) --maxprocesses 8 --dist loadfile \
	    $(PYTEST_ARGS) || [ $$? -eq 5 ]

# Headless Chromium against the built book (run `make book` first). These three targets collect only
# the files their marker's tests live in (tests/conftest.py: MARKER_FILES).
browser-test: .coinfer-python
	COINFER_REQUIRE_BROWSER=1 $(RUN) -m pytest -m browser tests/test_*browser*.py $(PYTEST_ARGS)

# Every chapter's .ipynb, top to bottom, in a new virtualenv made by its own Colab install cell
# (tests/test_fresh_env.py; minutes: it installs coinfer[book] from scratch).
fresh-env-test: .coinfer-python
	COINFER_FRESH_ENV=1 $(RUN) -m pytest -m fresh_env tests/test_fresh_env*.py $(PYTEST_ARGS)

# The whole book as one PDF, offline (_build/pdf/coinfer.pdf): one-page HTML build printed by Chromium
# (tools/print_book.py), then checked (tests/test_book_pdf.py: every page of the toc is in it). Right
# after `make book` it reuses the chapters that build executed (_build/.jupyter_cache, same inputs).
pdf: .coinfer-python
	rm -rf _build/singlehtml _build/pdf
	$(RUN) tools/print_book.py
	COINFER_REQUIRE_PDF=1 $(RUN) -m pytest -m pdf tests/test_*pdf*.py $(PYTEST_ARGS)

setup .coinfer-python: pyproject.toml scripts/setup.sh
	bash scripts/setup.sh

# After editing _config.yml's repository.url or a chapter: rewrite the Colab cells and the .ipynb.
colab-cells: .coinfer-python
	$(RUN) tools/sync_colab_cells.py

diagram: .coinfer-python
	$(RUN) tools/make_framework_diagram.py

# Regenerate every committed quick-preset artifact under data/ from scratch, one step per table.
# Tables that train are run for seeds 0, 1 and 2 and saved as means with their spread; each finished
# seed is kept under data/results/seeds/ (and each sweep cell under data/results/cells/), so running
# `make results` again after an interruption resumes where it stopped. One torch thread per process
# (two processes on two cores otherwise slow each other down many times over); the encoding table
# and the sweep run their cells in two such processes (--workers 2), one per core.
# The baseline checkpoint is retrained only with RETRAIN=1: every table depends on it.
results: .coinfer-python
	OMP_NUM_THREADS=1 $(RUN) -m coinfer train --preset quick $(if $(RETRAIN),--retrain,)
	$(RUN) -m coinfer run original-float32 --preset quick
	$(RUN) -m coinfer run pruning --preset quick --threads 1
	$(RUN) -m coinfer run encoding --preset quick --threads 1 --workers 2
	$(RUN) -m coinfer run rate --preset quick --threads 1
	$(RUN) -m coinfer run jscc --preset quick --threads 1
	$(RUN) -m coinfer run sweep --preset quick --threads 1 --workers 2
	OMP_NUM_THREADS=1 $(RUN) -m coinfer train-codec --preset quick --split layer2.1 --code-size d16-l4
	OMP_NUM_THREADS=1 $(RUN) -m coinfer train-codec --preset quick --split layer3.1 --code-size d16-l4
	$(RUN) -m coinfer run serve_latency --preset quick --threads 1
	$(RUN) -m coinfer search --preset quick --replay
	$(RUN) -m coinfer search --preset quick --replay --objectives device_macs,bits_per_image,server_macs
	rm -rf /tmp/live && $(RUN) -m coinfer search --preset quick --trials 6 --seed 0 --threads 1 --summary \
	    --storage /tmp/live/live.journal --cells-dir /tmp/live/cells

clean:
	rm -rf _build .pytest_cache
