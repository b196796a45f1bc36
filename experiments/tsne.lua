-- t-SNE of penultimate-layer features of test images for several τ (the paper's figures 2 and
-- 3): each of --models (a CNN and a ViT by default) trained at each τ, the inputs of their last
-- layer on test images embedded in 2-D, one scatter per τ coloured by class, and how far the
-- classes come apart — leave-one-out k-NN accuracy and the silhouette, in the embedding and in
-- the features themselves. Writes results/tsne/: separation.{csv,json}, <model>.png (seed 1),
-- separation.png, claims.json.
local X = require "tau.experiment"
local A = tau.analysis

local ex = X.new{name = "tsne", description = "t-SNE of penultimate features of models trained at several τ.",
  paper_cost = "ResNet-50 and a ViT (dim 192) on CIFAR-10, 200 epochs at 7 τ, Barnes-Hut t-SNE of 10,000 test " ..
               "images each: about 7 × 2 × 200 epochs × 15 min ≈ 6 weeks of 2 CPU cores; the t-SNE part ≈ 14 × 5 min.",
  scales = {smoke = {taus = "0.5,1,5", seeds = "1", models = "cnn,vit:32", tsne_n = 200, iters = 300, perplexity = 30, theta = 0.5, k = 5},
            default = {taus = "0.5,1,5,20", seeds = "1", models = "cnn,vit:32", tsne_n = 1000, iters = 1000, perplexity = 30,
                       theta = 0.5, k = 5},
            paper = {taus = "0.1,0.5,1,2,5,10,50", seeds = "1", models = "resnet50,vit:192", tsne_n = 10000, iters = 1000,
                     perplexity = 30, theta = 0.5, k = 5}}}
ex:option("--models", "Comma-separated models (name or name:width).", X.list)
ex:option("--tsne-n", "Test images embedded (at most --test-limit).", X.count)
ex:option("--perplexity", "t-SNE perplexity.", X.positive)
ex:option("--iters", "t-SNE iterations.", X.count)
ex:option("--theta", "Barnes-Hut opening angle (t-SNE of more than 2,000 points).", X.positive)
ex:option("--k", "Neighbours of the leave-one-out k-NN accuracy.", X.count)
local ctx = ex:parse()
local a = ctx.args
local PRETTY = {cnn = "CNN", vit = "ViT", fashion_mnist = "Fashion-MNIST", cifar10 = "CIFAR-10", cifar100 = "CIFAR-100",
                tiny_imagenet = "Tiny-ImageNet"}
local function pretty(s)
  local base, width = s:match("^([^:]*)(.*)$")
  return (PRETTY[base] or base) .. width
end

local rows, records = {}, {}
for _, name in ipairs(a.models) do
  local panels = {}
  records[name] = {}
  for _, t in ipairs(ctx.taus) do
    for _, seed in ipairs(ctx.seeds) do
      local model, rec = ctx:train{tau = t, seed = seed, model = name}
      table.insert(records[name], rec)
      local f = A.penultimate(model, ctx.test_ds, {limit = a.tsne_n})
      local t0 = tau.time()
      local emb = A.tsne(f.features, {perplexity = a.perplexity, iters = a.iters, theta = a.theta, seed = a.seed})
      local r = {model = name, tau = t, seed = seed, train_loss = rec.train_loss, train_acc = rec.train_acc,
                 test_acc = rec.test_acc, n = f.labels:size(1), knn_acc = A.knn_accuracy(emb, f.labels, {k = a.k}),
                 silhouette = A.silhouette(emb, f.labels), feature_knn_acc = A.knn_accuracy(f.features, f.labels, {k = a.k}),
                 feature_silhouette = A.silhouette(f.features, f.labels), tsne_seconds = tau.time() - t0}
      rows[#rows + 1] = r
      print(string.format("  %s τ %g seed %d: t-SNE %d-NN %.3f, silhouette %.3f (features: %.3f, %.3f), %.0f s", name,
                          t, seed, a.k, r.knn_acc, r.silhouette, r.feature_knn_acc, r.feature_silhouette, r.tsne_seconds))
      if seed == ctx.seeds[1] then
        panels[#panels + 1] = {title = string.format("τ = %g: %d-NN %.1f%%, silhouette %.2f", t, a.k, 100 * r.knn_acc,
                                                     r.silhouette),
                               x = emb:select(2, 1), y = emb:select(2, 2), class = f.labels,
                               class_names = ctx.test_ds.class_names}
      end
    end
  end
  ctx:figure("scatter", {file = name:gsub(":", "-") .. ".png", layout = {1, #panels}, width = 520 * #panels, height = 520,
                         panels = panels, title = string.format("t-SNE of the %s's penultimate features: %d %s test images, seed %d",
                                                                pretty(name), a.tsne_n, pretty(a.data), ctx.seeds[1])})
end
ctx:write("separation", rows, {"model", "tau", "seed", "train_loss", "train_acc", "test_acc", "n", "knn_acc", "silhouette",
                               "feature_knn_acc", "feature_silhouette", "tsne_seconds"})

-- mean over seeds per (model, τ)
local summary = {}
for _, name in ipairs(a.models) do
  local per_tau = {}
  for _, t in ipairs(ctx.taus) do
    local m = {tau = t}
    for _, key in ipairs{"knn_acc", "silhouette", "test_acc", "train_acc"} do
      local v = {}
      for _, r in ipairs(rows) do if r.model == name and r.tau == t then v[#v + 1] = r[key] end end
      m[key] = X.stats(v).mean
    end
    per_tau[#per_tau + 1] = m
  end
  summary[#summary + 1] = {model = name, per_tau = per_tau}
end
local function curve(key, ylabel, title)
  local series = {}
  for _, s in ipairs(summary) do
    local xs, ys = {}, {}
    for i, m in ipairs(s.per_tau) do xs[i], ys[i] = m.tau, m[key] end
    series[#series + 1] = {name = pretty(s.model), x = xs, y = ys}
  end
  return {title = title, xlabel = "τ", ylabel = ylabel, logx = true, xticks = ctx.taus, series = series}
end
ctx:figure("lines", {file = "separation.png", layout = {1, 2}, title = "Cluster separation in the t-SNE embedding per τ",
                     panels = {curve("knn_acc", a.k .. "-NN accuracy (leave-one-out)", "k-NN accuracy"),
                               curve("silhouette", "mean silhouette", "Silhouette")}})

-- The claim per model: the best silhouette is at a τ above 1 and beats τ = 1's by a margin.
local MARGIN = 0.02
local function judge(per_tau)
  local base, best
  for _, m in ipairs(per_tau) do
    if m.tau == 1 then base = m end
    if not best or m.silhouette > best.silhouette then best = m end
  end
  if not base or #per_tau < 2 then return "not testable at this scale" end
  if best.tau <= 1 then return "not supported" end
  if best.silhouette - base.silhouette >= MARGIN and best.knn_acc >= base.knn_acc - 0.01 then return "supported" end
  return "mixed"
end
local all = {}
for _, name in ipairs(a.models) do for _, r in ipairs(records[name]) do all[#all + 1] = r end end
ctx:claim{id = "tsne_separation",
  claim = "A moderate or higher τ gives more separated class clusters in the penultimate features (figures 2-3)",
  statement = string.format("t-SNE (perplexity %g, seed %d) of the penultimate features of %d %s test images, " ..
                            "for %s trained at each τ; separation by the embedding's silhouette and %d-NN accuracy, means over seeds", a.perplexity,
                            a.seed, a.tsne_n, a.data, table.concat(a.models, ", "), a.k),
  numbers = summary, controls = ctx:controls(all),
  rule = string.format("per model: supported when the τ with the best silhouette is above 1, beats τ = 1's silhouette " ..
                       "by at least %.2f and its k-NN accuracy is within 0.01 of τ = 1's or above; not supported when " ..
                       "the best τ is 1 or lower; mixed otherwise; not testable without τ = 1 in the grid. Overall: the " ..
                       "models' common verdict, mixed when they differ", MARGIN),
  verdict = function(ns)
    local first
    for _, s in ipairs(ns) do
      s.verdict = judge(s.per_tau)
      if s.verdict == "not testable at this scale" then return s.verdict end
      if first and first ~= s.verdict then first = "mixed" end
      first = first or s.verdict
    end
    return first
  end}
ctx:finish()
