"""Upper bounds for the numbers that set how much a game agent allocates or searches.

Each comes from a flag or a saved agent's file and is checked before it is used: a network's hidden
size is allocated, and search sizes set how long a move takes (``sims`` 1e12 would never answer).
"""

MAX_GAMES = 10**9  # training games in one run
MAX_HIDDEN = 4_096  # hidden units of a value / policy network
MAX_SIMS = 100_000  # PUCT simulations per move
MAX_ROLLOUTS = 100_000  # UCT rollouts per move (mcts:N)
MAX_DEPTH = 9  # alpha-beta plies (Connect Four)
MAX_TABLE_STATES = 10_000  # tic-tac-toe has 5,478 reachable positions
