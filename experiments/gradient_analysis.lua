-- The paper's gradient argument, measured. For the cross-entropy at temperature τ the gradient
-- w.r.t. the features f is -((1 - p_y)/τ) (w_y - Σ_{i≠y} q_i w_i), q the softmax over the wrong
-- classes at τ: τ sets the step size (1 - p_y)/τ and, through q, the direction — at a low τ the
-- hardest wrong class takes all of q, at a high τ q spreads over every wrong class.
--   1. A 2-D toy: three class prototypes and one feature's path under gradient descent per τ.
--   2. A model trained at each τ (constant learning rate), measured at checkpoints on the fixed
--      test subset: step factor, entropy of q, the hardest wrong class's weight, the angle between
--      the update and w_y - w_hardest, and the feature- and input-gradient norms.
-- Writes results/gradient_analysis/: toy.{csv,json,png}, training.{csv,json,png}, claims.json.
local X = require "tau.experiment"
local A = tau.analysis

local ex = X.new{name = "gradient_analysis", no_seed = true, description = "How τ sets the step size and direction of the CE gradient.",
  paper_cost = "ResNet-50 on CIFAR-10 for 200 epochs at 9 τ: about 9 × 200 × 15 min ≈ 19 days of 2 CPU cores, " ..
               "plus 201 measurements per τ on 2,000 test images (≈ 1 min each): about 30 hours more.",
  scales = {smoke = {taus = "0.5,5", seeds = "1", lr = 0.05, lr_scale = "tau", checkpoints = 2},
            default = {taus = "0.1,0.5,1,5,20", seeds = "1", epochs = 2, lr = 0.05, lr_scale = "tau", test_limit = 1000,
                       checkpoints = 4},
            paper = {seeds = "1", lr_scale = "tau", checkpoints = 1, test_limit = 2000}}}
ex:option("--checkpoints", "Measurements per epoch (plus one before training).", X.count)
ex.parser:option("--toy-taus", "Temperatures of the toy figure.", "0.1,1,10"):convert(X.numbers)
ex.parser:option("--toy-steps", "Gradient steps of the toy paths.", "60"):convert(X.count)
ex.parser:option("--toy-lr", "Step size of the toy paths.", "0.1"):convert(X.positive)
local ctx = ex:parse()
local a = ctx.args
print("gradient_analysis measures during training, so it trains its own runs (constant learning rate): " ..
      "the model cache (--cache, --no-cache) is not used")

-- 1. The toy: w_1 (the true class) up, w_2 close to the feature (the hardest wrong class), w_3 far.
local W = tau.tensor{{0, 1}, {1, -0.3}, {-1, -0.5}}
local toy, paths, factors = {}, {}, {}
for _, t in ipairs(a.toy_taus) do
  local xs, ys, ks, ss = {}, {}, {}, {}
  for k, p in ipairs(A.descent_path({0.2, -0.6}, W, 1, t, {lr = a.toy_lr, steps = a.toy_steps})) do
    xs[k], ys[k], ks[k], ss[k] = p.f[1], p.f[2], k - 1, p.step
    toy[#toy + 1] = {tau = t, step = k - 1, f1 = p.f[1], f2 = p.f[2], step_factor = p.step,
                     hardest_weight = p.hardest_weight, angle = p.angle}
  end
  paths[#paths + 1] = {name = "path, τ = " .. t, x = xs, y = ys}
  factors[#factors + 1] = {name = "τ = " .. t, x = ks, y = ss}
end
for i, name in ipairs{"w_1 (true class)", "w_2 (hardest wrong)", "w_3"} do
  paths[#paths + 1] = {name = name, x = {0, W[i][1]}, y = {0, W[i][2]}, style = "lines"}
end
ctx:write("toy", toy, {"tau", "step", "f1", "f2", "step_factor", "hardest_weight", "angle"})
ctx:figure("lines", {file = "toy.png", title = "Toy: CE at τ pulls a feature of class 1 from (0.2, -0.6) toward w_1",
  layout = {1, 2}, width = 1400, panels = {
    {title = "The feature's path, step size " .. a.toy_lr, xlabel = "f_1", ylabel = "f_2", series = paths},
    {title = "Step factor (1 - p_y)/τ along the path", xlabel = "gradient step", ylabel = "(1 - p_y)/τ", logy = true,
     series = factors}}})

-- 2. Training at each τ, measured at checkpoints.
local KEYS = {"step", "entropy", "hardest_weight", "angle", "grad_norm", "input_grad_norm"}
local per_epoch = (ctx.train_ds:size() + a.batch - 1) // a.batch
local chunk = math.max(1, per_epoch // a.checkpoints)
local rows, curves, records = {}, {}, {}
for _, t in ipairs(ctx.taus) do
  curves[t] = {}
  for _, seed in ipairs(ctx.seeds) do
    local s = ctx:setting{tau = t, seed = seed, schedule = "constant"}
    tau.manual_seed(seed)
    local model = ctx:model(s.model, s.width)
    local opt = s.optimizer == "adamw" and tau.optim.AdamW(model:parameters(), {lr = s.lr, weight_decay = s.weight_decay})
      or tau.optim.SGD(model:parameters(), {lr = s.lr, momentum = 0.9, weight_decay = s.weight_decay, nesterov = true})
    local steps, last, m = 0, {}, nil
    for c = 0, s.epochs * a.checkpoints do
      if c > 0 then  -- each chunk draws its own shuffle (seed), so chunks cover the data like epochs
        local h = tau.train.fit(model, ctx.train_ds, {epochs = 1, max_steps = chunk, opt = opt, tau = t, batch = s.batch,
                                                      augment = s.augment or nil, seed = seed * 100003 + c, quiet = true})
        last, steps = h[#h], steps + chunk
      end
      m = A.gradient_stats(model, ctx.test_ds, t)
      m.tau, m.seed, m.train_step, m.epoch, m.lr = t, seed, steps, steps / per_epoch, s.lr
      m.train_loss, m.train_acc = last.train_loss, last.train_acc
      rows[#rows + 1] = m
      curves[t][c + 1] = curves[t][c + 1] or {}
      table.insert(curves[t][c + 1], m)
      print(string.format("  τ %-5g seed %d step %5d: test acc %.3f, step factor %.4g, H(q) %.3f, max q %.3f, angle %5.1f°, " ..
                          "|dL/df| %.3g, |dL/dx| %.3g", t, seed, steps, m.accuracy, m.step, m.entropy, m.hardest_weight,
                          m.angle, m.grad_norm, m.input_grad_norm))
    end
    records[#records + 1] = {tau = t, seed = seed, model = s.model, setting = s, lr_scaled = s.lr_scaled,
                             train_loss = last.train_loss, train_acc = last.train_acc, test_acc = m.accuracy}
  end
end
ctx:write("training", rows, {"tau", "seed", "train_step", "epoch", "lr", "accuracy", "train_loss", "train_acc", "p_y", "step",
                             "entropy", "hardest_weight", "angle", "grad_norm", "input_grad_norm", "n"})
local function mean_of(list, k) local v = {} for i, m in ipairs(list) do v[i] = m[k] end return X.stats(v).mean end
local LABELS = {step = "(1 - p_y)/τ", entropy = "entropy of q (nats)", hardest_weight = "max_i q_i", angle = "degrees",
                grad_norm = "|dL/df|", input_grad_norm = "|dL/dx|"}
local TITLES = {step = "Step factor", entropy = "Entropy of q over the wrong classes", hardest_weight = "Hardest wrong class's weight",
                angle = "Angle(update, w_y - w_hardest)", grad_norm = "Feature-gradient norm", input_grad_norm = "Input-gradient norm"}
local panels = {}
for _, k in ipairs(KEYS) do
  local series = {}
  for _, t in ipairs(ctx.taus) do
    local xs, ys = {}, {}
    for i, list in ipairs(curves[t]) do xs[i], ys[i] = list[1].train_step, mean_of(list, k) end
    series[#series + 1] = {name = "τ = " .. t, x = xs, y = ys}
  end
  panels[#panels + 1] = {title = TITLES[k], xlabel = "training step", ylabel = LABELS[k], series = series,
                         logy = (k == "step" or k:find("norm")) and true or nil}
end
ctx:figure("lines", {file = "training.png", layout = {2, 3}, width = 1800, height = 900, panels = panels,
  title = string.format("The gradient of CE_τ w.r.t. the %s's penultimate features over training (%s, %d test images)",
                        a.model, a.data, ctx.test_ds:size())})

-- The claim, twice: at initialisation (one network, only the loss's τ differs: the mechanism)
-- and over training (a network trained at each τ: does it survive training?). Means over seeds.
local function summary(first, last)
  local ns = {}
  for _, t in ipairs(ctx.taus) do
    local m, list = {tau = t}, {}
    for i = first, last or #curves[t] do for _, r in ipairs(curves[t][i]) do list[#list + 1] = r end end
    for _, k in ipairs(KEYS) do m[k] = mean_of(list, k) end
    m.entropy_fraction = m.entropy / math.log(ctx.test_ds.classes - 1)
    ns[#ns + 1] = m
  end
  table.sort(ns, function(x, y) return x.tau < y.tau end)
  return ns
end
local function verdict(ns)
  if #ns < 2 then return "not testable at this scale" end
  local lo, hi, smax, smin, mono = ns[1], ns[#ns], -math.huge, math.huge, true
  for i, m in ipairs(ns) do
    smax, smin = math.max(smax, m.step), math.min(smin, m.step)
    if i > 1 and (m.hardest_weight > ns[i - 1].hardest_weight + 0.02 or m.entropy < ns[i - 1].entropy - 0.02) then
      mono = false
    end
  end
  local direction = mono and lo.hardest_weight > 0.5 and hi.entropy_fraction > 0.8 and lo.angle < hi.angle
  local size = smax >= 2 * smin
  return (direction and size) and "supported" or (direction or size) and "mixed" or "not supported"
end
local CLAIM = "τ changes both the step size and the direction of the gradient: low τ is dominated by the hardest wrong " ..
              "class, high τ spreads the push over all wrong classes"
local RULE = "direction: max q falls and H(q) rises with τ (no step by more than 0.02 the other way), max q > 0.5 at the " ..
             "lowest τ, H(q) > 0.8·log(C-1) at the highest, and the angle to w_y - w_hardest is larger at the highest τ " ..
             "than at the lowest; size: the largest mean step factor is at least twice the smallest. Both: supported; " ..
             "one: mixed; neither: not supported; fewer than 2 τ: not testable"
local what = string.format("the gradient of CE_τ w.r.t. the penultimate features of %s on %d %s test images", a.model,
                           ctx.test_ds:size(), a.data)
ctx:claim{id = "gradient_at_init", claim = CLAIM, rule = RULE, verdict = verdict, numbers = summary(1, 1),
          controls = {same_network = {held = true, detail = "every τ measured on the same initial network (seeds " ..
                                                            table.concat(ctx.seeds, ",") .. "), no training"}},
          statement = "At initialisation (the same network for every τ, only the loss's τ differs): " .. what}
ctx:claim{id = "gradient_over_training", claim = CLAIM, rule = RULE, verdict = verdict, numbers = summary(2),
          controls = ctx:controls(records),
          statement = "Over training (a network trained at each τ, means over the checkpoints after the start): " .. what}
ctx:finish()
