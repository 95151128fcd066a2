#!/usr/bin/env bash
# GARL at q = 0.75 (mean baseline) on HotPotQA closed-book with verl 0.9.1: one node, 8 GPUs, vLLM rollouts.
# Needs a verl installation (see docs/integrations.md); this project only adds the estimator and the reward.
#
#   bash examples/verl_garl.sh                        # GARL, q = 0.75
#   ESTIMATOR=paft EXTRA="+algorithm.tsallis.num_resamples=4" bash examples/verl_garl.sh
#   Q="+algorithm.tsallis.schedule={kind:step,q_before:1,q_after:0,switch_step:100}" bash examples/verl_garl.sh
# (every override below was checked against verl 0.9.1's Hydra config with hydra.compose)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-$HOME/data/hotpotqa_cb}
MODEL=${MODEL:-Qwen/Qwen2.5-1.5B-Instruct}
ESTIMATOR=${ESTIMATOR:-garl}   # garl | garl_none | garl_mean | garl_loo | paft
M=${M:-16}                     # completions per prompt
G=${G:-64}                     # prompts per step
Q=${Q:-+algorithm.tsallis.q=0.75}   # or a schedule: +algorithm.tsallis.schedule={kind:...}

[ -f "$DATA/train.parquet" ] || python examples/verl_data.py --benchmark hotpotqa --closed-book --out "$DATA"

# VERL_USE_EXTERNAL_MODULES: verl imports the plug-in when it imports itself, which registers the estimators.
# verl computes advantages inside its TaskRunner, a Ray actor: the ray_kwargs override hands the variable to
# every Ray process (the shell variable covers the launching process), so it works on a cluster too.
# loss_agg_mode=seq-mean-token-sum and one mini-batch per step (ppo_mini_batch_size = G, ppo_epochs = 1)
# make verl's update the exact estimator -(1/G) Σ w ∇log p(z); verl's default token-mean is length-weighted.
VERL_USE_EXTERNAL_MODULES=llm.integrations.verl python -m verl.trainer.main_ppo \
    algorithm.adv_estimator="$ESTIMATOR" \
    "$Q" \
    +ray_kwargs.ray_init.runtime_env.env_vars.VERL_USE_EXTERNAL_MODULES=llm.integrations.verl \
    +algorithm.tsallis.baseline=mean \
    +algorithm.tsallis.seed=0 \
    algorithm.use_kl_in_reward=False \
    data.train_files="$DATA/train.parquet" data.val_files="$DATA/dev.parquet" \
    data.train_batch_size="$G" data.max_prompt_length=512 data.max_response_length=512 \
    reward.custom_reward_function.path=examples/verl_data.py reward.custom_reward_function.name=compute_score \
    actor_rollout_ref.model.path="$MODEL" \
    actor_rollout_ref.rollout.name=vllm actor_rollout_ref.rollout.n="$M" \
    actor_rollout_ref.actor.loss_agg_mode=seq-mean-token-sum \
    actor_rollout_ref.actor.ppo_mini_batch_size="$G" actor_rollout_ref.actor.ppo_epochs=1 \
    actor_rollout_ref.actor.use_kl_loss=False \
    actor_rollout_ref.actor.optim.lr=1e-6 \
    trainer.n_gpus_per_node=8 trainer.nnodes=1 trainer.total_training_steps=200 \
    trainer.logger='["console"]' \
    ${EXTRA:-}
