"""The Tour's text: for every view (by key), what it shows and what to try first (from the views' docstrings)."""

from __future__ import annotations

# key -> (what the view shows, what to try first)
PAGES: dict[str, tuple[str, str]] = {
    "attention": (
        "Every layer and head of the model at once: a grid of heatmaps of the attention weights, one panel per "
        "head, each row a token looking back at the tokens before it. A head view draws lines from one token to "
        "every token it attends to, one colour per head.",
        "Type a sentence of your own, then click a panel to enlarge it and hover a cell for its exact weight. "
        "Switch to the head view and pick a token to see where every head looks from it."),
    "training": (
        "A form for a training run (model size, context, batch, steps), start / pause / resume / stop, and the "
        "loss curves live as the model learns. A finished run becomes a model every view can use.",
        "Press Start with the defaults: a small model trains on Shakespeare in a few minutes. Then open the "
        "Attention view and tick \u201cfollow training\u201d to watch its heads form."),
    "tokens": (
        "Your text coloured token by token (ids on hover), and the vocabulary with its frequencies. The tokenizer "
        "can be the model's own, or characters, words or BPE trained on the corpus.",
        "Switch the tokenizer and watch the same sentence split into different pieces; try a rare word."),
    "next-token": (
        "The model's probability for every next token after your prompt (the top 20 as bars), and how surprised "
        "it was by each token of the prompt itself, with the sentence's log-probability.",
        "Type the start of a famous line and see whether the next word is on top; click a token of the strip to "
        "see what the model expected just before it."),
    "decoding": (
        "Beam search drawn as the tree it searched, next to the greedy path, and sampling: the next-token "
        "distribution before and after temperature, with what top-k and top-p cut off.",
        "Press \u201cNext step\u201d a few times to grow the tree, then click any node to force that prefix. In "
        "sampling, raise the temperature and compare the seeded samples."),
    "chat": (
        "An instruct model (SmolLM2) answers token by token, each token coloured by the probability the model "
        "gave it; a click on an answer token shows which earlier tokens each layer and head looked at.",
        "Ask a short question, then click a pale (unsure) token of the answer to see where the model looked."),
    "fill-mask": (
        "A masked language model fills every [MASK] of a sentence, and GPT against BERT at one position: the "
        "next-token model reads only the left, the masked model reads both sides.",
        "Put [MASK] in place of a word in a line you know and compare the two models' guesses for it."),
    "fine-tune": (
        "Pre-training then fine-tuning: fine-tune the model on a labelled task (the genre of a speech), see how "
        "accuracy grows with the number of examples against training from scratch, and sentence similarity "
        "with all-MiniLM-L6-v2.",
        "Fine-tune on the genre task, then type a line and see its class probabilities and which tokens "
        "mattered."),
    "translation": (
        "An encoder-decoder translates a sentence of a small grammar and shows where it looked: the "
        "cross-attention as an alignment heatmap, the beam search tree, and training a new translator.",
        "Pick an example sentence and compare the RNN with attention and the transformer's alignments; then "
        "pick the RNN without attention and read why it has none."),
    "story": (
        "RNN vs attention told by a measurement: an RNN without attention, one with attention and a transformer "
        "trained for the same time, their exact match against the length of the sentence.",
        "Read the shipped run's curves: where does the RNN without attention fall off? Then \u201cRun the "
        "story\u201d with a minute per family to see it happen on this machine."),
    "gradients": (
        "Vanishing gradients, run and seen: a plain RNN, a GRU, an LSTM and a transformer learn to recall the "
        "first of T tokens; the gradient's size at each distance, their accuracy, and the gates over time.",
        "Press Start with a long T and watch the plain RNN's gradient line drop on the log scale while the "
        "others stay up."),
    "embeddings": (
        "A vocabulary's vectors as a 2-D or 3-D map (PCA or t-SNE), coloured by frequency or cluster; the "
        "nearest words of any word, and the analogy workbench a - b + c.",
        "Search a word and compare its nearest words by cosine with its neighbours on the map; try an analogy "
        "such as king - man + woman on skip-gram vectors."),
    "arena": (
        "Board games against trained agents: play one (with its values over the board), watch two play, or "
        "train a new agent by Q-learning, SARSA, TD(lambda) or self-play.",
        "Play a game of tic-tac-toe against the agent and watch its win probability after each move."),
    "ablation": (
        "Switch attention heads off and see at once what the model predicts without them: the next-token bars "
        "and the per-token loss before and after, and every head's effect as a heatmap.",
        "Click the head with the largest effect in the heatmap and see which tokens of the text got harder."),
    "logit-lens": (
        "What the model would predict if it ended after each layer: one row per layer, one column per token, "
        "each cell the most probable next token, bold when it is the right one.",
        "Type a sentence and read down a column: at which layer does the right word first appear?"),
    "head-scores": (
        "How heads form over training: previous-token, first-token, duplicate-token and induction scores of "
        "every head against the step, with the loss and the moment induction heads appear.",
        "Press \u201cTrain induction heads\u201d and watch the induction score jump as the loss drops."),
    "few-shot": (
        "In-context learning: a prompt of k examples of a task, the model's answer, where it looked among the "
        "examples, and accuracy against k.",
        "Pick the capitals task with SmolLM2, set k to 0 then 4, and compare the answers; then measure the "
        "accuracy curve."),
    "rollout": (
        "How much of each input token reaches each position through all the layers (attention rollout and "
        "attention flow), beside one layer's own attention.",
        "Move the layer slider up and see the rollout blur across the text; click a row to compare raw "
        "attention, rollout and flow for that position."),
    "feedback": (
        "You are the human of RLHF: two lines the model wrote after a verse prompt, side by side; say which is "
        "better (or a tie) and each answer becomes a preference pair. A scripted judge can add thousands; a reward "
        "model learns from the pairs, with its held-out accuracy.",
        "Answer a dozen pairs, add 2000 from the rhyme judge, train the reward model, then type a line that "
        "rhymes and one that does not and compare their scores."),
    "rlhf": (
        "RLHF itself: PPO against the reward model with a KL penalty to the start model, or DPO straight from the "
        "pairs; the reward, the KL and the line length as it trains, and the same prompts' lines before and after.",
        "Train a reward model in the Feedback view first, then Start PPO and watch the reward rise while the KL "
        "grows; when it ends, press \u201cUse this model\u201d and open the Next token view."),
}
