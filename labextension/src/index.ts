/**
 * caliban-jupyter for JupyterLab 4 and Notebook 7: the "Caliban" side panel and
 * "Run as job" and "Export as job" (notebook toolbar, file browser context menu, command
 * palette).
 */
import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  ICommandPalette,
  Notification,
  ToolbarButton
} from '@jupyterlab/apputils';
import { DocumentRegistry } from '@jupyterlab/docregistry';
import { IDefaultFileBrowser } from '@jupyterlab/filebrowser';
import {
  INotebookModel,
  INotebookTracker,
  NotebookPanel
} from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { downloadIcon } from '@jupyterlab/ui-components';
import { DisposableSet, IDisposable } from '@lumino/disposable';

import { request } from './api';
import type { ISubmission } from './dialog';
import { downloadJob } from './exporting';
// The panel, its model and the notifications are built at activation (they poll from the
// start, for the notifications), so these load with the plugin; the dialog loads when
// first opened.
// eslint-disable-next-line jupyter/prefer-lazy-imports
import { CalibanModel } from './model';
// eslint-disable-next-line jupyter/prefer-lazy-imports
import { labNotifier } from './notifier';
// eslint-disable-next-line jupyter/prefer-lazy-imports
import { calibanIcon, CalibanPanel } from './panel';

const PLUGIN_ID = 'caliban-jupyter:plugin';

namespace CommandIDs {
  export const runAsJob = 'caliban:run-as-job';
  export const exportAsJob = 'caliban:export-as-job';
  export const openPanel = 'caliban:open-panel';
}

/** A "Run as job" button on every notebook's toolbar. */
class RunButtonExtension implements DocumentRegistry.IWidgetExtension<
  NotebookPanel,
  INotebookModel
> {
  constructor(private app: JupyterFrontEnd) {}

  createNew(panel: NotebookPanel): IDisposable {
    const button = new ToolbarButton({
      className: 'caliban-run-button',
      icon: calibanIcon,
      label: 'Run as job',
      tooltip: 'Run this notebook as a job sweep (Caliban)',
      onClick: () =>
        void this.app.commands.execute(CommandIDs.runAsJob, {
          path: panel.context.path
        })
    });
    const exportButton = new ToolbarButton({
      className: 'caliban-export-button',
      icon: downloadIcon,
      label: 'Export as job',
      tooltip:
        'Download this notebook as a job directory (zip) for caliban cloud',
      onClick: () =>
        void this.app.commands.execute(CommandIDs.exportAsJob, {
          path: panel.context.path
        })
    });
    panel.toolbar.insertItem(10, 'calibanRunAsJob', button);
    panel.toolbar.insertItem(11, 'calibanExportAsJob', exportButton);
    const both = new DisposableSet();
    both.add(button);
    both.add(exportButton);
    return both;
  }
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description:
    'A live panel of experiment groups, and Run or Export as job for notebooks.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ICommandPalette, ISettingRegistry, IDefaultFileBrowser],
  activate: (
    app: JupyterFrontEnd,
    notebooks: INotebookTracker,
    palette: ICommandPalette | null,
    settingRegistry: ISettingRegistry | null,
    fileBrowser: IDefaultFileBrowser | null
  ) => {
    const model = new CalibanModel(labNotifier);
    const panel = new CalibanPanel(model);
    app.shell.add(panel, 'left', { rank: 900 });
    model.onShowLogs = () => app.shell.activateById(panel.id);
    let defaultBackend = '';

    if (settingRegistry) {
      void settingRegistry.load(PLUGIN_ID).then(settings => {
        const apply = () => {
          defaultBackend = String(
            settings.get('defaultBackend').composite || ''
          );
          model.setInterval(
            Number(settings.get('refreshInterval').composite) || 3
          );
        };
        apply();
        settings.changed.connect(apply);
      });
    }

    /** The file browser's selected notebook, if any. */
    const selectedNotebook = (): string | null => {
      const selected = fileBrowser?.selectedItems().next();
      return selected &&
        !selected.done &&
        selected.value.path.endsWith('.ipynb')
        ? selected.value.path
        : null;
    };

    /** The notebook a command acts on: its argument, the file right-clicked in the file
     * browser, the current notebook, or the selection. */
    const notebookPath = (args: any): string | null => {
      if (args && typeof args.path === 'string' && args.path) {
        return args.path;
      }
      // From the file browser's context menu the main area's notebook is still current:
      // the file right-clicked (selected by the click) is the one meant.
      if (
        app.contextMenuHitTest(node =>
          node.classList.contains('jp-DirListing-item')
        )
      ) {
        const path = selectedNotebook();
        if (path) {
          return path;
        }
      }
      const current = notebooks.currentWidget;
      if (current && app.shell.currentWidget === current) {
        return current.context.path;
      }
      return selectedNotebook() ?? (current ? current.context.path : null);
    };

    const submit = async (body: ISubmission): Promise<string> => {
      // Submit what is on screen: save the open notebook first.
      const open = notebooks.find(w => w.context.path === body.notebook);
      if (open && open.context.model.dirty) {
        await open.context.save();
      }
      const reply = await request<{ xgroup: string }>('submissions', {
        method: 'POST',
        body
      });
      model.refresh();
      app.shell.activateById(panel.id);
      model.expand(reply.xgroup);
      Notification.info(
        `Submitted ${body.notebook} as experiment group ${reply.xgroup}`,
        {
          autoClose: 5000
        }
      );
      return reply.xgroup;
    };

    app.commands.addCommand(CommandIDs.runAsJob, {
      label: 'Run as job…',
      describedBy: {
        args: {
          type: 'object',
          properties: {
            path: {
              type: 'string',
              description:
                "the notebook's path (default: the file browser's selection or the current notebook)"
            }
          }
        }
      },
      caption:
        'Run a notebook as a job sweep on Vertex AI or the local emulator',
      icon: calibanIcon,
      isEnabled: () => true,
      execute: async args => {
        const path = notebookPath(args);
        if (!path) {
          Notification.warning(
            'Open or select a notebook to run it as a job.',
            {
              autoClose: 5000
            }
          );
          return;
        }
        const { showRunDialog } = await import('./dialog');
        await showRunDialog({ notebook: path, defaultBackend, submit });
      }
    });
    app.commands.addCommand(CommandIDs.exportAsJob, {
      label: 'Export as job',
      describedBy: {
        args: {
          type: 'object',
          properties: {
            path: {
              type: 'string',
              description:
                "the notebook's path (default: the file browser's selection or the current notebook)"
            }
          }
        }
      },
      caption:
        'Download a notebook as a job directory (zip) that caliban cloud submits',
      icon: downloadIcon,
      execute: async args => {
        const path = notebookPath(args);
        if (!path) {
          Notification.warning(
            'Open or select a notebook to export it as a job.',
            {
              autoClose: 5000
            }
          );
          return;
        }
        // Export what is on screen: save the open notebook first.
        const open = notebooks.find(w => w.context.path === path);
        if (open && open.context.model.dirty && !open.context.model.readOnly) {
          await open.context.save();
        }
        try {
          const name = await downloadJob(path);
          Notification.info(`Exported ${path} as ${name}`, { autoClose: 5000 });
        } catch (e) {
          Notification.error(`Export as job failed: ${(e as Error).message}`, {
            autoClose: false
          });
        }
      }
    });
    app.commands.addCommand(CommandIDs.openPanel, {
      label: 'Show the Caliban panel',
      describedBy: { args: { type: 'object', properties: {} } },
      execute: () => app.shell.activateById(panel.id)
    });

    app.docRegistry.addWidgetExtension('Notebook', new RunButtonExtension(app));
    app.contextMenu.addItem({
      command: CommandIDs.runAsJob,
      selector: '.jp-DirListing-item[data-file-type="notebook"]',
      rank: 60
    });
    app.contextMenu.addItem({
      command: CommandIDs.exportAsJob,
      selector: '.jp-DirListing-item[data-file-type="notebook"]',
      rank: 61
    });
    if (palette) {
      palette.addItem({ command: CommandIDs.runAsJob, category: 'Caliban' });
      palette.addItem({ command: CommandIDs.exportAsJob, category: 'Caliban' });
      palette.addItem({ command: CommandIDs.openPanel, category: 'Caliban' });
    }
    // Checked from the start, whether or not the panel is ever opened: the notifications
    // (a group of this machine finished, a job failed) and the "server extension
    // missing" message depend on it.
    model.schedule(0);
  }
};

export default plugin;
