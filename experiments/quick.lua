-- The quick τ sweep (`make run`): train the small CNN on Fashion-MNIST once per softmax
-- temperature τ and compare clean test accuracy, accuracy under the common corruptions and under
-- PGD-10. Results go to results/quick.{csv,json}.
local argparse = require "argparse"
local util = require "tau.util"

local parser = argparse("quick.lua", "Temperature sweep of the small CNN on Fashion-MNIST.")
parser:option("--taus", "Comma-separated softmax temperatures.", "0.5,1,2,5,20")
parser:option("--epochs", "Epochs per temperature.", "1"):convert(tonumber)
parser:option("--batch", "Batch size.", "128"):convert(tonumber)
parser:option("--lr", "SGD learning rate.", "0.05"):convert(tonumber)
parser:option("--seed", "Random seed.", "1"):convert(tonumber)
parser:option("--train-limit", "Use only the first N training images (0: all).", "0"):convert(tonumber)
parser:option("--robust-n", "Test images for the corruption and PGD columns (0: skip them).", "1000"):convert(tonumber)
parser:option("--pgd-eps", "L-infinity radius of PGD-10.", "0.1"):convert(tonumber)
parser:option("--severity", "Corruption severity for the corruption column.", "3"):convert(tonumber)
parser:option("--threads", "Threads (default: all cores).", "0"):convert(tonumber)
parser:option("--out", "Results prefix.", "results/quick")
local args = parser:parse()

if args.threads > 0 then tau.set_num_threads(args.threads) end
local taus = {}
for s in args.taus:gmatch("[^,]+") do
  local v = tonumber(s)
  if not v or v <= 0 then parser:error("--taus: '" .. s .. "' is not a positive number") end
  taus[#taus + 1] = v
end

local train_ds = tau.data.fashion_mnist{split = "train"}
local test_ds = tau.data.fashion_mnist{split = "test"}
if args.train_limit > 0 then train_ds = train_ds:subset(args.train_limit) end
local norm = tau.data.stats.fashion_mnist
local robust_ds = args.robust_n > 0 and test_ds:subset(args.robust_n) or nil

print(string.format("Fashion-MNIST: %d training, %d test images; %d thread(s); taus %s",
                    train_ds:size(), test_ds:size(), tau.get_num_threads(), args.taus))

-- The model sees raw [0, 1] pixels normalised inside, so attacks and corruptions act on images.
local function make_model()
  local net = tau.models.cnn{channels = 1, classes = 10, image = 28}
  return tau.nn.Sequential{tau.nn.Normalize(norm.mean, norm.std), net}
end

local rows = {}
for _, t in ipairs(taus) do
  tau.manual_seed(args.seed)
  local model = make_model()
  local opt = tau.optim.SGD(model:parameters(), {lr = args.lr, momentum = 0.9, weight_decay = 5e-4, nesterov = true})
  local sched = tau.optim.cosine(opt, {epochs = args.epochs})
  local t0 = tau.time()
  tau.train.fit(model, train_ds, {epochs = args.epochs, batch = args.batch, opt = opt, schedule = sched, tau = t,
                                  seed = args.seed, quiet = false})
  local ev = tau.train.evaluate(model, test_ds, {tau = t})
  local row = {tau = t, clean_acc = ev.accuracy, test_loss = ev.loss, train_seconds = tau.time() - t0}
  if robust_ds then
    row.corruption_acc = tau.robust.corruption_accuracy(model, robust_ds, {severity = args.severity, seed = args.seed}).mean
    row.pgd10_acc = tau.robust.pgd_accuracy(model, robust_ds, {eps = args.pgd_eps, steps = 10, tau = 1,
                                                               seed = args.seed})
  end
  rows[#rows + 1] = row
  print(string.format("tau %-6g clean %.2f%%%s", t, 100 * row.clean_acc,
                      robust_ds and string.format("  corruptions %.2f%%  PGD-10 %.2f%%", 100 * row.corruption_acc,
                                                  100 * row.pgd10_acc) or ""))
end

print()
print(string.format("%-8s %10s %14s %10s", "tau", "clean acc", "corrupt acc", "PGD-10 acc"))
for _, r in ipairs(rows) do
  print(string.format("%-8g %9.2f%% %13s %10s", r.tau, 100 * r.clean_acc,
                      r.corruption_acc and string.format("%.2f%%", 100 * r.corruption_acc) or "-",
                      r.pgd10_acc and string.format("%.2f%%", 100 * r.pgd10_acc) or "-"))
end

local prov = util.provenance({seed = args.seed, data = "fashion_mnist", model = "cnn", epochs = args.epochs,
                              pgd_eps = args.pgd_eps, severity = args.severity, robust_n = args.robust_n})
local dir = args.out:match("^(.*)/[^/]*$")
if dir then util.mkdir(dir) end
util.write_file(args.out .. ".csv", "# " .. util.json(prov) .. "\n" ..
                util.csv(rows, {"tau", "clean_acc", "test_loss", "corruption_acc", "pgd10_acc", "train_seconds"}))
util.write_file(args.out .. ".json", util.json({provenance = prov, results = rows}, 2) .. "\n")
print("results written to " .. args.out .. ".csv and " .. args.out .. ".json")
