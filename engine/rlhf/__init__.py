"""Reinforcement learning from human feedback (seed 000: ChatGPT is GPT-3 with "additional fine tuning using
reinforcement learning with human feedback"), with the user, or a scripted judge, as the human.

- :mod:`engine.rlhf.judges`: scripted judges (rhyme, metre, word:WORD, short) that stand in for the human;
- :mod:`engine.rlhf.rollout`: verse prompts from the corpus and lines sampled from a policy, with their
  log-probabilities;
- :mod:`engine.rlhf.prefs`: preference pairs (JSONL), made by a judge or given by the user;
- :mod:`engine.rlhf.reward`: the reward model (the policy's architecture with a scalar head, Bradley-Terry);
- :mod:`engine.rlhf.train`: PPO with a value head and a KL penalty to the start model, and DPO;
- :mod:`engine.rlhf.evaluate`: the tuned model against its start on new prompts (reward, KL, judge's verdict);
- :mod:`engine.rlhf.cli`: ``txe rlhf preferences | reward-model | train | score``.
"""
