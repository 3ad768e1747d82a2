"""Evaluation: lm-evaluation-harness with the suite's model type (`lm`), the task files that read the local
data (`tasks/`), token perplexity and the runs behind every evaluation table (`harness`), and the Kneser-Ney
count models that are every model-quality table's floor (`ngram`)."""
