-- t-SNE of penultimate-layer features of test images for several τ (the paper's figures 2 and
-- 3): a CNN and a ViT trained at each τ, their last layer's inputs on test images embedded in
-- 2-D, one scatter per τ coloured by class, and how far the classes come apart — leave-one-out
-- k-NN accuracy and the silhouette, in the embedding and in the features themselves.
-- Writes results/tsne/{separation.csv,json}, <model>.png, separation.png, claims.json.
local argparse = require "argparse"
local util = require "tau.util"
local A = tau.analysis

local SCALES = {smoke = {taus = "0.5,1,4", epochs = 1, train_limit = 1024, tsne_n = 200, iters = 300},
                default = {taus = "0.25,1,4,16", epochs = 1, train_limit = 20000, tsne_n = 1000, iters = 1000},
                paper = {taus = "0.1,0.5,1,2,5,10,50", epochs = 30, train_limit = 0, tsne_n = 5000, iters = 1000}}
local parser = argparse("tsne.lua", "t-SNE of penultimate features of models trained at several τ.")
  :epilog("Scales: smoke (seconds), default (a few minutes on 2 cores), paper (7 τ × 2 models × 30 epochs on " ..
          "all 60,000 images plus Barnes-Hut t-SNE of 5,000 points each: about 7 × 30 × (50 s + 60 s) ≈ 6.5 hours " ..
          "on 2 cores). Flags given override the scale's values.")
parser:option("--scale", "smoke | default | paper.", "default"):choices{"smoke", "default", "paper"}
parser:option("--taus", "Comma-separated temperatures (must include 1 for the claim).")
parser:option("--models", "Comma-separated models: cnn, vit.", "cnn,vit")
parser:option("--epochs", "Training epochs per model and τ."):convert(tonumber)
parser:option("--train-limit", "Train on the first N images (0: all 60,000)."):convert(tonumber)
parser:option("--lr", "CNN: SGD learning rate (momentum 0.9, cosine).", "0.05"):convert(tonumber)
parser:option("--vit-lr", "ViT: AdamW learning rate (cosine).", "0.002"):convert(tonumber)
parser:option("--lr-scale", "none | tau: multiply the CNN's SGD learning rate by τ.", "none"):choices{"none", "tau"}
parser:option("--vit-dim", "ViT width.", "64"):convert(tonumber)
parser:option("--vit-depth", "ViT blocks.", "2"):convert(tonumber)
parser:option("--vit-patch", "ViT patch size (divides 28).", "7"):convert(tonumber)
parser:option("--batch", "Batch size.", "128"):convert(tonumber)
parser:option("--tsne-n", "Test images embedded."):convert(tonumber)
parser:option("--perplexity", "t-SNE perplexity.", "30"):convert(tonumber)
parser:option("--iters", "t-SNE iterations."):convert(tonumber)
parser:option("--theta", "Barnes-Hut angle (sets above 2,000 points).", "0.5"):convert(tonumber)
parser:option("--k", "Neighbours of the k-NN accuracy.", "5"):convert(tonumber)
parser:option("--seed", "Random seed (training and t-SNE).", "1"):convert(tonumber)
parser:option("--threads", "Threads (0: all cores).", "0"):convert(tonumber)
parser:option("--out", "Results folder.", "results/tsne")
local args = parser:parse()
for k, v in pairs(SCALES[args.scale]) do if args[k] == nil then args[k] = v end end
if args.threads > 0 then tau.set_num_threads(args.threads) end
local taus, models = {}, {}
for v in args.taus:gmatch("[^,]+") do taus[#taus + 1] = tonumber(v) or parser:error("--taus: not a number: " .. v) end
for v in args.models:gmatch("[^,]+") do
  if v ~= "cnn" and v ~= "vit" then parser:error("--models: unknown model " .. v) end
  models[#models + 1] = v
end
util.mkdir(args.out)
local prov = util.provenance({seed = args.seed, scale = args.scale, data = "fashion_mnist"})

local train_ds = tau.data.fashion_mnist{split = "train"}
local test_ds = tau.data.fashion_mnist{split = "test"}
if args.train_limit > 0 then train_ds = train_ds:subset(args.train_limit) end
local function build(name)
  if name == "cnn" then return tau.models.cnn{} end
  return tau.models.vit{image = 28, channels = 1, patch = args.vit_patch, dim = args.vit_dim, depth = args.vit_depth,
                        heads = 2}
end

local rows, by_model = {}, {}
for _, name in ipairs(models) do
  local panels = {}
  for _, t in ipairs(taus) do
    tau.manual_seed(args.seed)
    local model = build(name)
    local opt = name == "cnn"
      and tau.optim.SGD(model:parameters(), {lr = args.lr * (args.lr_scale == "tau" and t or 1), momentum = 0.9,
                                             weight_decay = 5e-4, nesterov = true})
      or tau.optim.AdamW(model:parameters(), {lr = args.vit_lr, weight_decay = 0.05})
    local t0 = tau.time()
    local hist = tau.train.fit(model, train_ds, {epochs = args.epochs, batch = args.batch, opt = opt, tau = t,
                                                 schedule = tau.optim.cosine(opt, {epochs = args.epochs}),
                                                 seed = args.seed, quiet = true})
    local train_s = tau.time() - t0
    local f = A.penultimate(model, test_ds, {limit = args.tsne_n})
    t0 = tau.time()
    local emb = A.tsne(f.features, {perplexity = args.perplexity, iters = args.iters, theta = args.theta, seed = args.seed})
    local r = {model = name, tau = t, train_loss = hist[#hist].train_loss, train_acc = hist[#hist].train_acc,
               test_acc = f.logits:argmax(2):eq(f.labels):float():mean():item(), n = f.labels:size(1),
               knn_acc = A.knn_accuracy(emb, f.labels, {k = args.k}), silhouette = A.silhouette(emb, f.labels),
               feature_knn_acc = A.knn_accuracy(f.features, f.labels, {k = args.k}),
               feature_silhouette = A.silhouette(f.features, f.labels), train_seconds = train_s,
               tsne_seconds = tau.time() - t0}
    rows[#rows + 1] = r
    by_model[name] = by_model[name] or {}
    table.insert(by_model[name], r)
    print(string.format("%s tau %-5g train loss %.3f acc %.3f  test acc %.3f  t-SNE: %d-NN %.3f silhouette %.3f  " ..
                        "(features %.3f / %.3f)  %.0fs + %.0fs", name, t, r.train_loss, r.train_acc, r.test_acc, args.k,
                        r.knn_acc, r.silhouette, r.feature_knn_acc, r.feature_silhouette, train_s, r.tsne_seconds))
    panels[#panels + 1] = {title = string.format("τ = %g  (%d-NN %.1f%%, silhouette %.2f)", t, args.k, 100 * r.knn_acc,
                                                 r.silhouette),
                           x = emb:select(2, 1), y = emb:select(2, 2), class = f.labels, class_names = test_ds.class_names}
  end
  tau.plot.scatter{path = args.out .. "/" .. name .. ".png", layout = {1, #panels}, panels = panels,
                   title = string.format("t-SNE of the %s's penultimate features, %d Fashion-MNIST test images", name:upper(),
                                         args.tsne_n)}
end
local COLS = {"model", "tau", "train_loss", "train_acc", "test_acc", "n", "knn_acc", "silhouette", "feature_knn_acc",
              "feature_silhouette", "train_seconds", "tsne_seconds"}
util.write_file(args.out .. "/separation.csv", "# " .. util.json(prov) .. "\n" .. util.csv(rows, COLS))
util.write_file(args.out .. "/separation.json", util.json({provenance = prov, rows = rows}, 2) .. "\n")
local function curve(key, ylabel, title)
  local series = {}
  for _, name in ipairs(models) do
    local xs, ys = {}, {}
    for i, r in ipairs(by_model[name]) do xs[i], ys[i] = r.tau, r[key] end
    series[#series + 1] = {name = name:upper(), x = xs, y = ys}
  end
  return {title = title, xlabel = "τ", ylabel = ylabel, logx = true, xticks = taus, series = series}
end
tau.plot.lines{path = args.out .. "/separation.png", layout = {1, 2}, title = "Cluster separation in the t-SNE embedding",
               panels = {curve("knn_acc", args.k .. "-NN accuracy (leave-one-out)", "k-NN accuracy"),
                         curve("silhouette", "mean silhouette", "Silhouette")}}

-- The claim per model: the best silhouette is at a τ above 1 and beats τ = 1's by a margin.
local MARGIN = 0.02
local function judge(rs)
  local base, best
  for _, r in ipairs(rs) do
    if r.tau == 1 then base = r end
    if not best or r.silhouette > best.silhouette then best = r end
  end
  if not base or #rs < 2 then return "not testable at this scale" end
  if best.tau <= 1 then return "not supported" end
  local sep = best.silhouette - base.silhouette >= MARGIN
  local knn = best.knn_acc >= base.knn_acc - 0.01
  if sep and knn then return "supported" end
  return "mixed"
end
local per_model, votes = {}, {}
for _, name in ipairs(models) do
  local v = judge(by_model[name])
  per_model[#per_model + 1] = {model = name, verdict = v, rows = by_model[name]}
  votes[v] = (votes[v] or 0) + 1
end
local overall = votes["not testable at this scale"] and "not testable at this scale"
  or (votes.supported == #models and "supported") or (votes["not supported"] == #models and "not supported") or "mixed"
local claim = {claim = "A moderate or higher τ gives more separated clusters in the penultimate features (figures 2-3)",
               statement = "t-SNE of the penultimate features of " .. args.tsne_n .. " test images for models trained at each τ; " ..
                           "separation by the silhouette (and k-NN accuracy) of the embedding",
               command = prov.command, scale = args.scale, seed = args.seed, numbers = per_model,
               rule = string.format("per model: supported when the τ with the best silhouette is above 1, beats τ = 1's " ..
                                    "silhouette by at least %.2f and its %d-NN accuracy is within 0.01 of τ = 1's or above; " ..
                                    "not supported when the best τ is 1 or lower; mixed otherwise; not testable without " ..
                                    "τ = 1 in the grid. Overall: supported or not supported when every model agrees, else mixed",
                                    MARGIN, args.k), verdict = overall}
util.write_file(args.out .. "/claims.json", util.json({provenance = prov, claims = {claim}}, 2) .. "\n")
print("claim: " .. overall .. "  (" .. args.out .. "/claims.json)")
