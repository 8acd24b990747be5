"""Whose turn it is, and each waiting job's place in the turn order. Pure: no I/O.

A freed slot goes to the user served least recently among those with waiting jobs and fewer than
MAX_ACTIVE_PER_USER slots (the store picks them: `ORDER BY last_served, joined`), then to that user's
lowest-rank job (scheduling/policy.py). Every user with waiting jobs gets one turn per round, however
many jobs they have: 200 waiting jobs buy a user no more turns than 1 does.

Position. Users in turn order u_1, u_2, ... (least recently served first) with n_1, n_2, ... waiting
jobs; a user's jobs indexed 0, 1, ... by rank. Round r serves the r-th job of every user with more
than r waiting jobs, in user order. So the job at index i of user u is at

    position(u, i) = sum over every user v of min(n_v, i)  +  #{v before u : n_v > i}  +  1

(the jobs of the earlier rounds, then the earlier users of its own round; store.py computes it in
SQL for one job, and `positions` below for all, as they give the same). It reads the order as if
every user could take a slot when their turn comes; one at their own limit is skipped until one of
their jobs ends, so others' jobs may start sooner than their positions say, never later. A position
can grow: a user who comes earlier in the order may add jobs (a newcomer has not been served at all,
so comes first).
"""

from __future__ import annotations


def positions(order: list[str], counts: dict[str, int]) -> dict[str, list[int]]:
    """Every waiting job's position: for each user in `order`, the positions of their jobs by index."""
    placed: dict[str, list[int]] = {user: [] for user in order}
    alive = [user for user in order if counts.get(user, 0) > 0]
    position, round_ = 0, 0
    while alive:  # each round costs the users still in it: O(waiting jobs) in all
        for user in alive:
            position += 1
            placed[user].append(position)
        round_ += 1
        alive = [user for user in alive if counts[user] > round_]
    return placed
