-- The paper's robustness claims, tested honestly: train the small CNN on Fashion-MNIST at each τ
-- (optionally with adversarial training), then evaluate every model with tau.robust.evaluate —
-- corruptions, PGD with CE at τ = 1 and at the training τ, the CW margin loss, targeted PGD,
-- APGD-CE/DLR, and transfer from the τ = 1 model. If a high τ only resists CE at its own τ, it
-- is masking gradients. Results: <out>.json (all figures, plus the logits before and after PGD
-- of a few images, for the paper's figure 5) and a summary table.
--   bin/tau experiments/robust.lua --taus 1,5,20 --epochs 2 --n 1000
local argparse = require "argparse"
local util = require "tau.util"

local parser = argparse("robust.lua", "Robustness of models trained at different temperatures.")
parser:option("--taus", "Comma-separated training temperatures (1 is always included, as the transfer source).", "1,5,20")
parser:option("--epochs", "Training epochs per model.", "2"):convert(tonumber)
parser:option("--train-limit", "Use only the first N training images (0: all).", "0"):convert(tonumber)
parser:option("--n", "Test images to evaluate.", "1000"):convert(tonumber)
parser:option("--eps", "Comma-separated L-infinity radii.", "0.05,0.1")
parser:option("--steps", "PGD steps.", "10"):convert(tonumber)
parser:option("--adversarial", "Adversarial training: none | pgd | trades.", "none")
parser:option("--adv-eps", "Radius for adversarial training.", "0.1"):convert(tonumber)
parser:option("--seed", "Random seed.", "1"):convert(tonumber)
parser:option("--out", "Results prefix.", "results/robust")
parser:flag("--no-corruptions", "Skip the corruption benchmark.")
local args = parser:parse()

local taus, seen = {1}, {[1] = true}
for s in args.taus:gmatch("[^,]+") do
  local v = tonumber(s)
  if not v or v <= 0 then parser:error("--taus: '" .. s .. "' is not a positive number") end
  if not seen[v] then taus[#taus + 1] = v; seen[v] = true end
end
local eps = {}
for s in args.eps:gmatch("[^,]+") do eps[#eps + 1] = assert(tonumber(s), "--eps: not a number: " .. s) end

local train_ds = tau.data.fashion_mnist{split = "train"}
if args.train_limit > 0 then train_ds = train_ds:subset(args.train_limit) end
local test_ds = tau.data.fashion_mnist{split = "test"}:subset(args.n)
local norm = tau.data.stats.fashion_mnist

local models = {}
for _, t in ipairs(taus) do
  tau.manual_seed(args.seed)
  local model = tau.nn.Sequential{tau.nn.Normalize(norm.mean, norm.std), tau.models.cnn{channels = 1, classes = 10}}
  local opt = tau.optim.SGD(model:parameters(), {lr = 0.05, momentum = 0.9, weight_decay = 5e-4, nesterov = true})
  local adv = args.adversarial ~= "none" and {method = args.adversarial, eps = args.adv_eps, steps = 5} or nil
  print(string.format("training at tau %g%s", t, adv and (" with " .. adv.method .. " adversarial training") or ""))
  tau.train.fit(model, train_ds, {epochs = args.epochs, opt = opt, schedule = tau.optim.cosine(opt, {epochs = args.epochs}),
                                  tau = t, seed = args.seed, adversarial = adv})
  models[t] = model
end

local results = {}
local corruptions = nil              -- nil: the 15 benchmark corruptions
if args.no_corruptions then corruptions = false end
for _, t in ipairs(taus) do
  print(string.format("\n== model trained at tau %g", t))
  results[#results + 1] = tau.robust.evaluate(models[t], test_ds, {
    tau_train = t, eps = eps, steps = args.steps, seed = args.seed, corruptions = corruptions,
    source_model = t ~= 1 and models[1] or nil, record = 8})
end

print()
local head = string.format("%-6s %7s %9s", "tau", "clean", "corrupt")
for _, e in ipairs(eps) do head = head .. string.format(" | eps %-6g %8s %8s %8s %8s", e, "CE@1", "CE@tau", "CW", "worst") end
print(head)
for i, r in ipairs(results) do
  local line = string.format("%-6g %6.2f%% %8s", taus[i], 100 * r.clean,
                             r.corruption and string.format("%.2f%%", 100 * r.corruption.mean) or "-")
  for k, e in ipairs(eps) do
    local ce1, cet = "-", "-"
    for _, p in ipairs(r.pgd) do
      if p.eps == e and p.tau == 1 then ce1 = string.format("%.2f%%", 100 * p.accuracy) end
      if p.eps == e and p.tau == taus[i] then cet = string.format("%.2f%%", 100 * p.accuracy) end
    end
    line = line .. string.format(" |            %8s %8s %7.2f%% %7.2f%%", ce1, cet, 100 * r.cw[k].accuracy, 100 * r.worst[k].accuracy)
  end
  print(line)
end

local prov = util.provenance({seed = args.seed, data = "fashion_mnist", model = "cnn", epochs = args.epochs,
                              adversarial = args.adversarial, n = args.n})
local dir = args.out:match("^(.*)/[^/]*$")
if dir then util.mkdir(dir) end
local out = {}
for i, r in ipairs(results) do out[i] = r; r.tau = taus[i] end
util.write_file(args.out .. ".json", util.json({provenance = prov, results = out}, 2) .. "\n")
print("results written to " .. args.out .. ".json")
