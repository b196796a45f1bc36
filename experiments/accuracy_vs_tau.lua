-- Clean test accuracy against the softmax temperature τ, for a CNN, a ResNet and a ViT, mean ±
-- std over seeds (the paper's accuracy-versus-τ tables). The paper's claim: a moderate τ gives
-- the best accuracy, neither the smallest nor the largest of the grid.
--   bin/tau experiments/accuracy_vs_tau.lua                      (CIFAR-10 subset, minutes)
--   bin/tau experiments/accuracy_vs_tau.lua --lr-scale tau       (the rate scaled by τ)
--   bin/tau experiments/accuracy_vs_tau.lua --scale paper        (see --help for the cost)
local X = require "tau.experiment"

local ex = X.new{
  name = "accuracy_vs_tau",
  no_seed = true,
  description = "Clean test accuracy over a τ grid for several models, mean ± std over seeds.",
  paper_cost = "CIFAR-10, ResNet-50 and ViT (dim 192), 200 epochs, 9 τ × 3 seeds = 54 runs of each. A ResNet-50 "
               .. "training step runs at an estimated 20 images/s on 2 cores (about 6 days a run, 11 months for 54); the "
               .. "ViT at about 150 images/s (18 hours a run, 40 days). --models resnet20 cuts the ResNet part to about a month.",
  scales = {
    smoke = {models = "cnn,resnet8:16,vit:32", taus = "0.5,1,5", train_limit = 300, test_limit = 200},
    default = {data = "cifar10", models = "cnn,resnet20:16,vit:32", taus = "0.1,0.25,0.5,1,2,5,10,50,100",
               epochs = 3, train_limit = 2000, test_limit = 1000},
    paper = {models = "resnet50,vit:192"},
  },
}
ex:option("--models", "Comma-separated models (name or name:width).", X.list)
local ctx = ex:parse()
local models, taus = ctx.args.models, ctx.taus

-- One model per (model, τ, seed); the cache makes a second run (or a later script) free.
local records = {}
for _, m in ipairs(models) do
  for _, t in ipairs(taus) do
    for _, seed in ipairs(ctx.seeds) do
      local _, rec = ctx:train{model = m, tau = t, seed = seed}
      records[#records + 1] = rec
    end
  end
end
ctx:write_records("runs", records)

-- Mean ± std over seeds per (model, τ), of the clean test accuracy and of the final training
-- accuracy (the convergence control).
local summary, numbers = {}, {}
for _, m in ipairs(models) do
  numbers[m] = {}
  local mine = {}
  for _, r in ipairs(records) do if r.model == m then mine[#mine + 1] = r end end
  local test = X.summarise(mine, function(r) return r.tau end, "test_acc")
  local train = X.summarise(mine, function(r) return r.tau end, "train_acc")
  for _, t in ipairs(taus) do
    local s, tr = test[t], train[t]
    summary[#summary + 1] = {model = m, tau = t, test_acc_mean = s.mean, test_acc_std = s.std, n = s.n,
                             train_acc_mean = tr.mean, train_acc_std = tr.std}
    numbers[m][#numbers[m] + 1] = {tau = t, mean = s.mean, std = s.std, n = s.n, train_acc = tr.mean}
  end
end
ctx:write("accuracy", summary, {"model", "tau", "test_acc_mean", "test_acc_std", "n", "train_acc_mean", "train_acc_std"})

print(string.format("\n%-14s %8s %18s %16s", "model", "tau", "test acc (%)", "train acc (%)"))
for _, r in ipairs(summary) do
  print(string.format("%-14s %8g %18s %16.2f", r.model, r.tau,
                      X.pm({mean = r.test_acc_mean, std = r.test_acc_std, n = r.n}, true), 100 * r.train_acc_mean))
end

-- The figure: test accuracy (error bars: std over seeds) and final training accuracy against τ.
local function series(field, err)
  local out = {}
  for _, m in ipairs(models) do
    local x, y, e = {}, {}, {}
    for _, p in ipairs(numbers[m]) do
      x[#x + 1], y[#y + 1], e[#e + 1] = p.tau, 100 * p[field], err and 100 * p.std or nil
    end
    out[#out + 1] = {name = m, x = x, y = y, err = err and e or nil}
  end
  return out
end
local fig = ctx:figure("lines", {
  file = "accuracy_vs_tau.png", title = string.format("Accuracy against τ (%s, %d seed(s))", ctx.args.data, #ctx.seeds),
  layout = {1, 2},
  panels = {
    {title = "clean test accuracy (mean ± std)", xlabel = "τ (log scale)", ylabel = "accuracy (%)", logx = true,
     xticks = taus, series = series("mean", true)},
    {title = "final training accuracy", xlabel = "τ (log scale)", ylabel = "accuracy (%)", logx = true,
     xticks = taus, series = series("train_acc", false)},
  }})

-- The verdict, per model: "moderate τ is best" holds when the best mean is at an inner τ of the
-- grid and beats both ends by more than the two standard deviations added.
local RULE = "Per model: supported if the τ of the best mean accuracy is an inner point of the grid and its mean "
             .. "exceeds the mean at the smallest and at the largest τ each by more than the sum of the two stds; "
             .. "not supported if the best τ is the smallest or the largest of the grid; mixed otherwise. Over "
             .. "models: the common verdict when all agree, mixed when they do not; not testable with fewer than "
             .. "3 τ values."
local function verdict_of(points)
  local best = 1
  for i, p in ipairs(points) do if p.mean > points[best].mean then best = i end end
  if best == 1 or best == #points then return "not supported", points[best].tau end
  local b, lo, hi = points[best], points[1], points[#points]
  if b.mean - lo.mean > b.std + lo.std and b.mean - hi.mean > b.std + hi.std then return "supported", b.tau end
  return "mixed", b.tau
end
local per_model = {}
for _, m in ipairs(models) do
  local v, best = verdict_of(numbers[m])
  per_model[m] = {verdict = v, best_tau = best, points = numbers[m]}
end
ctx:claim{
  id = "moderate_tau_best", claim = "A moderate temperature gives the best clean accuracy.",
  statement = string.format("Clean test accuracy of %s on %s over τ ∈ {%s}: the best τ lies inside the grid and "
                            .. "beats both ends.", table.concat(models, ", "), ctx.args.data, table.concat(taus, ", ")),
  numbers = per_model, rule = RULE, figures = {fig.file},
  verdict = function(n)
    if #taus < 3 then return "not testable at this scale" end
    local first
    for _, m in ipairs(models) do
      first = first or n[m].verdict
      if n[m].verdict ~= first then return "mixed" end
    end
    return first
  end,
  controls = ctx:controls(records),
}
ctx:finish()
